"""Talking to a provider: the rate limiter, the on-disk answer cache and the HTTP client."""

from __future__ import annotations

import json
import math
import os
import re
import time
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from siting._errors import DataError, GeocodeKeyError, SitingError
from siting.geocode.providers import Provider, _Answer, _finite

if TYPE_CHECKING:
    import urllib.request

_USER_AGENT: Final = "siting-geocode/1.0 (facility planning; python urllib)"
_MAX_BACKOFF_S: Final = 30.0
_CACHE_FORMAT: Final = "siting-geocode-cache"
_CACHE_SAVE_EVERY: Final = 25


# --- rate limit, cache, client -----------------------------------------------------------------


class _RateLimiter:
    """Spaces calls to :meth:`wait` by at least ``1 / rate`` seconds."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = -math.inf

    def wait(self) -> None:
        now = time.monotonic()
        if now < self._next:
            time.sleep(self._next - now)
            now = time.monotonic()
        self._next = now + self.interval


class _Cache:
    """Answers of one provider on disk: a JSON file of query key -> answer."""

    def __init__(self, path: Path | None, provider: Provider) -> None:
        self.path = path
        self.provider = provider
        self.entries: dict[str, dict[str, Any]] = {}
        self.dirty = 0
        if path is not None and path.is_file():
            self.entries = self._load(path)

    def _load(self, path: Path) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            msg = (
                f"地理编码缓存无法读取 cannot read the geocoding cache {path}: {exc}; "
                "delete it to start afresh (删除后重新查询)"
            )
            raise DataError(msg) from exc
        entries = data.get("entries") if isinstance(data, dict) else None
        if data.get("format") != _CACHE_FORMAT or not isinstance(entries, dict):
            msg = f"{path} is not a siting geocoding cache (不是地理编码缓存文件); delete it"
            raise DataError(msg)
        return {str(k): v for k, v in entries.items() if isinstance(v, dict)}

    def get(self, key: str) -> _Answer | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        try:
            return _Answer.from_cache(entry)
        except (ValueError, TypeError):
            return None  # a damaged entry is asked again

    def put(self, key: str, answer: _Answer) -> None:
        """Keep an answer (in memory only when the cache is off: one run asks once)."""
        self.entries[key] = answer.to_cache()
        self.dirty += 1
        if self.dirty >= _CACHE_SAVE_EVERY:
            self.save()

    def save(self) -> None:
        """Write the cache atomically, keeping entries another run wrote meanwhile."""
        if self.path is None or not self.dirty:
            return
        from siting._io import write_text

        merged: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            try:
                merged = self._load(self.path)
            except DataError:
                merged = {}
        merged.update(self.entries)
        data = {
            "format": _CACHE_FORMAT,
            "version": 1,
            "provider": self.provider.name,
            "crs": self.provider.crs,
            "entries": dict(sorted(merged.items())),
        }
        write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", self.path)
        self.entries = merged
        self.dirty = 0


def _normalize_query(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()


def _cache_key(query: str, city: str | None) -> str:
    def squash(t: str) -> str:
        return re.sub(r"\s+", "", unicodedata.normalize("NFKC", t)).casefold()

    return f"{squash(query)}|{squash(city or '')}"


def _loopback(url: str) -> bool:
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


class _Client:
    """Asks one provider, through the cache, the rate limiter and the retries."""

    def __init__(
        self,
        provider: Provider,
        *,
        key: str | None,
        url: str,
        rate: float,
        timeout: float,
        retries: int,
        backoff: float,
        cache: _Cache,
    ) -> None:
        self.provider = provider
        self.key = key
        self.url = url
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.cache = cache
        self.limiter = _RateLimiter(rate)
        self.requests = 0
        self.cache_hits = 0
        self.stopped: str | None = None  # why no more requests are sent
        self._opener: urllib.request.OpenerDirector | None = None

    def lookup(self, query: str, city: str | None) -> tuple[_Answer, bool]:
        """The answer to ``query`` and whether it came from the cache."""
        key = _cache_key(query, city)
        cached = self.cache.get(key)
        if cached is not None:
            self.cache_hits += 1
            return cached, True
        if self.stopped is not None:
            return _Answer("error", note=f"not asked: {self.stopped}"), False
        answer = self._ask(query, city)
        if answer.kind in ("ok", "not_found"):
            self.cache.put(key, answer)
        return answer, False

    def stop(self, reason: str) -> None:
        self.stopped = reason

    def _require_key(self) -> str:
        key = self.key if self.key is not None else os.environ.get(self.provider.key_env)
        key = (key or "").strip()
        if not key:
            p = self.provider
            msg = (
                f"{p.label}: 缺少密钥 no key; pass --key (key=) or set {p.key_env} "
                f"(在{p.zh}开放平台申请 Web 服务密钥 / a web-service key from {p.zh})"
            )
            raise SitingError(msg)
        return key

    def _scrub(self, text: str) -> str:
        key = (self.key or os.environ.get(self.provider.key_env) or "").strip()
        return text.replace(key, "***") if key else text

    def _open(self) -> urllib.request.OpenerDirector:
        import urllib.request

        if self._opener is None:
            # A local test server is reached directly, never through a proxy of the environment.
            handlers = [urllib.request.ProxyHandler({})] if _loopback(self.url) else []
            self._opener = urllib.request.build_opener(*handlers)
        return self._opener

    def _ask(self, query: str, city: str | None) -> _Answer:
        from urllib.parse import quote, urlencode

        params = self.provider.params(query, city, self._require_key())
        sep = "&" if "?" in self.url else "?"
        url = self.url + sep + urlencode(params, quote_via=quote)
        last = _Answer("error", note="no attempt")
        for attempt in range(self.retries + 1):
            if attempt:
                delay = min(self.backoff * 2 ** (attempt - 1), _MAX_BACKOFF_S)
                if last.retry_after is not None:
                    delay = max(delay, min(last.retry_after, _MAX_BACKOFF_S))
                time.sleep(delay)
            self.limiter.wait()
            self.requests += 1
            answer = self._once(url)
            if answer.kind == "key":
                p = self.provider
                msg = (
                    f"{p.label}: 密钥被拒绝 the key was refused ({self._scrub(answer.note)}); "
                    f"check --key or {p.key_env}, and that the key is a web-service (Web服务) "
                    "key allowed to geocode from this machine (密钥无效、过期或无地理编码权限)"
                )
                raise GeocodeKeyError(msg)
            if answer.kind == "quota":
                self.stop(answer.note)
                return _Answer("error", note=self._scrub(answer.note))
            if answer.kind != "retry":
                return _Answer(
                    answer.kind,
                    answer.lon,
                    answer.lat,
                    level=answer.level,
                    note=self._scrub(answer.note),
                    confidence=answer.confidence,
                    candidates=answer.candidates,
                    ambiguous=answer.ambiguous,
                )
            last = answer
        tries = self.retries + 1
        note = f"{self._scrub(last.note)}; gave up after {tries} tries (重试 {tries} 次仍失败)"
        return _Answer("error", note=note)

    def _once(self, url: str) -> _Answer:
        import http.client
        import urllib.error
        import urllib.request

        request = urllib.request.Request(
            url, headers={"User-Agent": _USER_AGENT, "Accept": "application/json"}
        )
        headers: Any = None
        try:
            with self._open().open(request, timeout=self.timeout) as response:
                status = int(response.status)
                body = response.read()
                headers = response.headers
        except urllib.error.HTTPError as exc:
            status, headers = int(exc.code), exc.headers
            try:
                body = exc.read()
            except (OSError, http.client.HTTPException):
                body = b""
            finally:
                exc.close()
        except TimeoutError:
            return _Answer("retry", note=f"no answer within {self.timeout:g} s (超时)")
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                return _Answer("retry", note=f"no answer within {self.timeout:g} s (超时)")
            return _Answer("retry", note=f"cannot reach the service: {exc.reason} (无法连接)")
        except (OSError, http.client.HTTPException) as exc:
            return _Answer("retry", note=f"connection failed: {exc!r} (连接失败)")
        return self._classify(status, body, headers)

    def _classify(self, status: int, body: bytes, headers: Any) -> _Answer:
        if status in (401, 403) or (status == 418 and self.provider.name == "tianditu"):
            return _Answer("key", note=f"HTTP {status}")
        if status == 429 or status >= 500:
            after = _finite(headers.get("Retry-After")) if headers is not None else None
            return _Answer("retry", note=f"HTTP {status} (服务繁忙)", retry_after=after)
        if status != 200:
            return _Answer("error", note=f"HTTP {status}")
        try:
            data = json.loads(body.decode("utf-8", errors="replace"))
        except json.JSONDecodeError:
            return _Answer("retry", note="the answer is not JSON (应答不是 JSON)")
        return self.provider.parse(data)
