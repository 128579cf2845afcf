"""Generate the restaurant-review dataset deterministically: ``python examples/make_reviews.py``.

Columns: ``review_id`` (a stable key), ``text``, ``cuisine``, ``price_level`` (1-4) and
``label`` (1 positive, 0 negative). The same seed always gives the same file, byte for byte.
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

CUISINES = {
    "italian": ["pasta", "pizza", "risotto", "tiramisu", "lasagna", "gnocchi"],
    "mexican": ["tacos", "burrito", "guacamole", "enchiladas", "salsa", "quesadilla"],
    "japanese": ["sushi", "ramen", "tempura", "miso soup", "udon", "sashimi"],
    "indian": ["curry", "naan", "biryani", "tandoori chicken", "dal", "samosa"],
    "french": ["croissant", "steak frites", "ratatouille", "creme brulee", "quiche", "baguette"],
}
POSITIVE = ["delicious", "amazing", "fresh", "wonderful", "perfectly cooked", "friendly staff",
            "great value", "cozy atmosphere", "would come back", "loved it", "fantastic", "tasty"]
NEGATIVE = ["bland", "cold", "overpriced", "rude staff", "greasy", "slow service", "stale",
            "disappointing", "never again", "undercooked", "too salty", "dirty tables"]
OPENERS = ["The {dish} was {w1}.", "Ordered the {dish}: {w1} and {w2}.",
           "{W1} {dish}, {w2} overall.", "We had {dish} here. {W1}!",
           "Honestly the {dish} was {w1}, {w2}."]


def make_rows(n: int, seed: int):
    rng = random.Random(seed)
    for i in range(n):
        cuisine = rng.choice(sorted(CUISINES))
        price = rng.choices([1, 2, 3, 4], weights=[3, 4, 2, 1])[0]
        # Pricier places are a little more likely to please; noise keeps it learnable, not trivial.
        positive = rng.random() < 0.42 + 0.06 * price
        words = POSITIVE if positive else NEGATIVE
        if rng.random() < 0.12:  # a mixed review pulls one word from the other side
            w1, w2 = rng.choice(words), rng.choice(NEGATIVE if positive else POSITIVE)
        else:
            w1, w2 = rng.sample(words, 2)
        text = rng.choice(OPENERS).format(dish=rng.choice(CUISINES[cuisine]), w1=w1, w2=w2,
                                          W1=w1.capitalize())
        yield {"review_id": f"r{i:05d}", "text": text, "cuisine": cuisine,
               "price_level": price, "label": int(positive)}


def write(path: Path, n: int = 3000, seed: int = 7) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, ["review_id", "text", "cuisine", "price_level", "label"],
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(make_rows(n, seed))
    return path


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "data" / "reviews.csv")
    args = ap.parse_args()
    print(write(args.out, args.rows, args.seed))
