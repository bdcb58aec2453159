"""Is the discriminator still discriminating? A watch over the logged D(real) and D(fake) of a GAN run.

A discriminator that outputs the same value for real and generated images gives the generator's
adversarial term nothing to push, and leaves feature matching matching the features of a D that no longer
discriminates: the adversarial game is over. This happens quietly (the losses stay finite and flat), so the
watch says it loudly and the run records it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class DiscriminatorWatch:
    """Flags a collapsed D: mean sigmoid D(real) minus mean sigmoid D(fake) below `margin` at `patience`
    consecutive logged steps from `start` on (the GAN steps, after D's warm-up)."""
    start: int = 0
    margin: float = 0.02
    patience: int = 5
    below: int = 0
    collapsed_at: int | None = None
    separations: tuple[float, ...] = ()

    def observe(self, step: int, values: dict[str, float]) -> None:
        if step <= self.start or "d/real" not in values or "d/fake" not in values:
            return
        separation = values["d/real"] - values["d/fake"]
        self.separations = (*self.separations, separation)
        self.below = self.below + 1 if separation < self.margin else 0
        if self.below >= self.patience and self.collapsed_at is None:
            self.collapsed_at = step
            log.warning("DISCRIMINATOR COLLAPSED at step %d: D(real) - D(fake) stayed below %.3f for %d logged steps "
                        "(now %.4f). D's output no longer tells SR from HR, so the adversarial term pushes nothing; "
                        "feature matching still matches the features of a D that no longer discriminates. The "
                        "provenance and report say so (README: Is the discriminator still discriminating?).",
                        step, self.margin, self.patience, separation)

    def summary(self) -> dict:
        """What the model's metadata records about its discriminator."""
        if not self.separations:
            return {"collapsed": False, "logged_steps": 0}
        return {"collapsed": self.collapsed_at is not None, "collapsed_at": self.collapsed_at,
                "separation_mean": round(sum(self.separations) / len(self.separations), 4),
                "separation_last": round(self.separations[-1], 4), "logged_steps": len(self.separations),
                "rule": f"D(real) - D(fake) < {self.margin} at {self.patience} consecutive logged steps"}
