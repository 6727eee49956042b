"""Progress bars for long-running commands (Keras' ``Progbar``, written to stderr-friendly stdout)."""

from __future__ import annotations


class Progress:
    """A thin wrapper over ``keras.utils.Progbar`` with ``update(n, **values)`` and ``close()``.

    ``enabled=False`` (``--quiet``) makes every call a no-op.
    """

    def __init__(
        self,
        total: int | None,
        desc: str = "",
        enabled: bool = True,
        unit: str = "step",
        stateful: tuple[str, ...] = ("img_s", "images_per_second"),
    ):
        self.enabled = enabled
        self.count = 0
        self._bar = None
        if enabled:
            from caae_tf.tf_env import tf

            tf()
            import keras

            if desc:
                print(desc, flush=True)
            self._bar = keras.utils.Progbar(total, unit_name=unit, stateful_metrics=list(stateful))

    def update(self, n: int = 1, **values: float) -> None:
        self.count += n
        if self._bar is not None:
            self._bar.update(self.count, values=[(k, float(v)) for k, v in values.items()] or None)

    def set(self, count: int, **values: float) -> None:
        self.count = count - 1
        self.update(1, **values)

    def close(self) -> None:
        if self._bar is not None and self._bar.target is not None and self.count < self._bar.target:
            self._bar.update(self._bar.target, finalize=True)
