"""The agent's client for one model service: timeouts, a circuit breaker and metrics.

A call that times out, cannot connect or gets a 5xx answer raises :class:`DownstreamError` with
a short reason (``timeout``, ``unavailable``, ``not_ready``, ``http_500``, ...). After
``breaker_failures`` consecutive failures the breaker (the ``circuitbreaker`` library) opens and
the service is skipped at once (reason ``circuit_open``) for ``breaker_reset_s``; then one call
at a time is let through to test it again (the others still fail fast). A 4xx answer (the
service refused that request, e.g. 413) is a ``DownstreamError`` too (reason ``http_413``) but
not a breaker failure: the service is healthy, and one client's bad tickets must not cut
everybody else off. Nor is a 503 "not ready" (reason
``not_ready``): the service is up and answers at once that it has no model yet (loading, or not
trained yet on a first start), so asking it costs nothing and the agent can say exactly why;
a 503 with ``Retry-After`` is a service whose queue is full (reason ``busy``), not a broken one.
"""

from __future__ import annotations

import asyncio
import time

import httpx
from circuitbreaker import STATE_HALF_OPEN, CircuitBreaker, CircuitBreakerError

from callcenterai.services.metrics import AgentMetrics
from callcenterai.services.schemas import Prediction

# Retry-After (seconds) of a call that failed with the breaker still closed (a timeout, a
# refused connection, a model still loading): such failures often pass within seconds.
RETRY_AFTER_S = 2


class DownstreamError(Exception):
    def __init__(self, service: str, reason: str):
        super().__init__(f"{service} service {reason.replace('_', ' ')}")
        self.service, self.reason = service, reason


class _Refused(Exception):
    """The service answered at once that it cannot take this request (4xx, or 503 while it has
    no model): not a failure the breaker should count."""

    def __init__(self, reason: str):
        super().__init__(reason)


class ModelClient:
    def __init__(
        self,
        kind: str,
        url: str,
        timeout_s: float,
        breaker_failures: int,
        breaker_reset_s: float,
        metrics: AgentMetrics,
    ):
        self.kind, self.url, self.metrics = kind, url.rstrip("/"), metrics
        # httpx's timeout bounds each phase (connect, each read...); timeout_s bounds the whole
        # call as well (asyncio.timeout in _predict): a service that answers byte by byte, or a
        # slow connect followed by a slow read, still fails within timeout_s.
        self.timeout_s = timeout_s
        self.client = httpx.AsyncClient(base_url=self.url, timeout=timeout_s)
        self.breaker = CircuitBreaker(
            failure_threshold=breaker_failures,
            recovery_timeout=breaker_reset_s,
            expected_exception=DownstreamError,
            name=kind,
        )
        self._guarded_predict = self.breaker(self._predict)  # the decorator checks the state
        self._trial = asyncio.Lock()  # the one call let through while half-open

    @property
    def breaker_state(self) -> str:
        return self.breaker.state

    @property
    def retry_after_s(self) -> int:
        """Seconds before this service is worth asking again: what is left of an open breaker's
        pause (it refuses every call until then), else :data:`RETRY_AFTER_S`."""
        if self.breaker.opened:
            return max(1, int(self.breaker.open_remaining))
        return RETRY_AFTER_S

    async def predict(self, text: str, explain: bool = False) -> Prediction:
        """The service's ``/predict`` answer, validated; raises :class:`DownstreamError`.

        Half-open (the breaker's pause is over), one trial call tests the service while the
        others fail fast as if the breaker were still open: 20 tickets arriving together must
        not be 20 calls to a service that may still be too slow.
        """
        if self.breaker.state == STATE_HALF_OPEN:
            if self._trial.locked():
                self.metrics.downstream_errors.labels(self.kind, "circuit_open").inc()
                raise DownstreamError(self.kind, "circuit_open")
            async with self._trial:
                return await self._call(text, explain)
        return await self._call(text, explain)

    async def _call(self, text: str, explain: bool) -> Prediction:
        try:
            return await self._guarded_predict(text, explain)
        except CircuitBreakerError:
            self.metrics.downstream_errors.labels(self.kind, "circuit_open").inc()
            raise DownstreamError(self.kind, "circuit_open") from None
        except _Refused as refused:
            self.metrics.downstream_errors.labels(self.kind, str(refused)).inc()
            raise DownstreamError(self.kind, str(refused)) from None
        finally:
            self.metrics.breaker_open.labels(self.kind).set(1 if self.breaker.opened else 0)

    async def _predict(self, text: str, explain: bool) -> Prediction:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout_s):
                response = await self.client.post(
                    "/predict", json={"text": text, "explain": explain}
                )
        except (httpx.TimeoutException, TimeoutError):
            raise self._failed("timeout") from None
        except httpx.TransportError:
            raise self._failed("unavailable") from None
        finally:
            self.metrics.downstream_latency.labels(self.kind).observe(time.perf_counter() - started)
        if response.status_code == 503:  # up: busy (it says when to retry), or no model yet
            raise _Refused("busy" if "retry-after" in response.headers else "not_ready")
        if 400 <= response.status_code < 500:
            raise _Refused(f"http_{response.status_code}")
        if response.status_code != 200:
            raise self._failed(f"http_{response.status_code}")
        try:
            return Prediction.model_validate_json(response.content)
        except ValueError:  # not JSON, or not a prediction (pydantic's ValidationError)
            raise self._failed("bad_response") from None

    async def challenger(self, text: str) -> Prediction | None:
        """The staging version's answer (``/predict/challenger``), or None when the service has
        no challenger. Outside the breaker and its metrics: a shadow call is never the answer,
        so its failures must not cut the service off (they raise :class:`DownstreamError`)."""
        try:
            response = await self.client.post("/predict/challenger", json={"text": text})
        except httpx.HTTPError:
            raise DownstreamError(self.kind, "unavailable") from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise DownstreamError(self.kind, f"http_{response.status_code}")
        try:
            return Prediction.model_validate_json(response.content)
        except ValueError:
            raise DownstreamError(self.kind, "bad_response") from None

    def _failed(self, reason: str) -> DownstreamError:
        self.metrics.downstream_errors.labels(self.kind, reason).inc()
        return DownstreamError(self.kind, reason)

    async def health(self) -> dict:
        """The service's readiness as the agent sees it (short timeout, breaker state)."""
        state = {"url": self.url, "breaker": self.breaker_state}
        try:
            response = await self.client.get("/ready", timeout=1.0)
            body = response.json()
            state.update(status=body.get("status", "unknown"), model=body.get("model"))
            state["ready"] = response.status_code == 200
        except (httpx.HTTPError, ValueError):
            state.update(status="down", ready=False, model=None)
        return state

    async def close(self) -> None:
        await self.client.aclose()
