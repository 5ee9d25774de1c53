"""Accuracy of the vector math in compiled batch kernels, in units in the last place (ulp).

`measure()` evaluates every primitive that batch kernels lower to vector
math (libmvec) over points spread across its whole domain — every binade,
both signs, and the edge cases 0, -0, ±inf, NaN, subnormals and huge
arguments — and compares with the C math library called point by point
(`math`, or NumPy where `math` lacks the function). Run it as
`python -m symgrad.ulp` for the table.
"""

from __future__ import annotations

import math

import numpy as np

EDGE_CASES = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 1e-310, -1e-310, 2.2250738585072014e-308,
                       1e-300, 1.0, -1.0, 0.5, 2.0, np.pi, -np.pi, np.pi / 2, 1e22, -1e22, 1e300, -1e300, 709.78,
                       -745.2, 710.0, 1e-8, -1e-8])

# name -> (the primitive's name, libm reference, domain: "all", "positive", "unit")
FUNCTIONS: dict[str, tuple] = {
    "exp": (np.exp, math.exp), "expm1": (np.expm1, math.expm1), "log": (np.log, math.log),
    "log1p": (np.log1p, math.log1p), "log2": (np.log2, math.log2), "log10": (np.log10, math.log10),
    "sin": (np.sin, math.sin), "cos": (np.cos, math.cos), "tan": (np.tan, math.tan),
    "arcsin": (np.arcsin, math.asin), "arccos": (np.arccos, math.acos), "arctan": (np.arctan, math.atan),
    "sinh": (np.sinh, math.sinh), "cosh": (np.cosh, math.cosh), "tanh": (np.tanh, math.tanh),
    "arcsinh": (np.arcsinh, math.asinh), "arccosh": (np.arccosh, math.acosh),
    "arctanh": (np.arctanh, math.atanh), "erf": (None, math.erf), "cbrt": (np.cbrt, None),
    "arctan2": (np.arctan2, math.atan2), "hypot": (np.hypot, math.hypot), "pow": (np.power, math.pow),
}


def sample(count: int, seed: int = 0) -> np.ndarray:
    """Points over every binade of both signs, plus the edge cases."""
    rng = np.random.default_rng(seed)
    exponents = rng.uniform(-1074, 1024, count)
    magnitudes = np.ldexp(rng.uniform(1.0, 2.0, count), np.floor(exponents).astype(int) - 1)
    signs = rng.choice([-1.0, 1.0], count)
    small = rng.uniform(-10, 10, count)  # where most functions do their interesting work
    return np.concatenate([EDGE_CASES, signs * magnitudes, small])


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Units in the last place between two float64 arrays; 0 where both are NaN or the same infinity."""
    def ordered(x):
        # Unsigned keys in the order of the floats: negatives flipped, positives above them.
        bits = np.ascontiguousarray(x, dtype=np.float64).view(np.uint64)
        negative = (bits >> np.uint64(63)).astype(bool)
        return np.where(negative, ~bits, bits | np.uint64(1 << 63))

    ka, kb = ordered(a), ordered(b)
    distance = np.where(ka >= kb, ka - kb, kb - ka).astype(np.float64)
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    return np.where(same, 0.0, distance)


def _reference(name: str, *points: np.ndarray) -> np.ndarray:
    vectorised, scalar = FUNCTIONS[name]
    if scalar is None:
        with np.errstate(all="ignore"):
            return vectorised(*points)

    def safe(*xs):
        try:
            return scalar(*xs)
        except (ValueError, OverflowError):
            # libm's answer where Python raises: NaN for domain errors, inf for overflow.
            with np.errstate(all="ignore"):
                return float(vectorised(*xs)) if vectorised is not None else math.nan

    return np.array([safe(*xs) for xs in zip(*points)], dtype=np.float64)


def measure(count: int = 20_000, seed: int = 0) -> dict[str, float]:
    """Max ulp error of the compiled batch kernel of each function over `sample(count)` points."""
    import symgrad as sg

    x = sample(count, seed)
    y = np.random.default_rng(seed + 1).permutation(x)
    result = {}
    for name in FUNCTIONS:
        if name in ("arctan2", "hypot", "pow"):
            fn = {"arctan2": np.arctan2, "hypot": np.hypot, "pow": lambda a, b: a**b}[name]
            points = (x, y) if name != "pow" else (np.abs(x), np.clip(y, -50, 50))
            got = sg.vmap(sg.jit(fn))(*points)
        else:
            fn = getattr(sg, name)
            points = (x,)
            got = sg.vmap(sg.jit(lambda v, fn=fn: fn(v)))(x)
        result[name] = float(np.max(ulp_distance(got, _reference(name, *points))))
    return result


def main() -> None:
    from .codegen.llvm import HAVE_LIBMVEC, VECTOR_WIDTH, strict_math

    mode = "libm, lane by lane (strict)" if strict_math() else f"libmvec, {VECTOR_WIDTH} lanes"
    print(f"max ulp error of batch kernels against libm ({mode}), {len(sample(20_000))} points each")
    print("| function | max ulp |\n| --- | --- |")
    for name, ulps in measure().items():
        print(f"| {name} | {ulps:.0f} |")
    if not HAVE_LIBMVEC:
        print("(libmvec not found: batch kernels call libm lane by lane)")


if __name__ == "__main__":
    main()
