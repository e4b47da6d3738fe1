"""The order in which numpy before 1.25 put equal scores at the top of `np.argsort`.

The released scripts record `most_similar` as `np.argsort(scores)[-10:][::-1]`. Their batches
were made with numpy's introsort of that time (median-of-three quicksort, insertion sort below 17
elements, heapsort past a depth limit); numpy 1.25 and later dispatch argsort to SIMD sorting
networks on x86, which place ties differently. To give the original's order on every machine and
numpy version, this module re-enacts that algorithm itself and never calls numpy's sort.

Only the last `k` positions of the sorted order are wanted, so only the partitions whose range
reaches into them are carried out: each is a Hoare partition done with array operations (which
elements stop the two scans, how many swaps happen before the scans cross), so the cost stays
close to two passes over the row. When the top `k` scores are all distinct and clear of the next
one, any sort gives the same answer and none is re-enacted.
"""
from __future__ import annotations

import numpy as np

_SMALL = 15  # a range longer than this many + 1 elements is partitioned, else insertion-sorted


def _depth_limit(n: int) -> int:
    msb = 0
    while n > 1:
        n >>= 1
        msb += 1
    return 2 * msb


def _partition(v: np.ndarray, a: np.ndarray, pl: int, pr: int) -> int:
    """One partition of a[pl..pr] (inclusive), in place, as numpy's quicksort did it; returns
    the pivot's final position."""
    pm = pl + ((pr - pl) >> 1)
    if v[a[pm]] < v[a[pl]]:
        a[pm], a[pl] = a[pl], a[pm]
    if v[a[pr]] < v[a[pm]]:
        a[pr], a[pm] = a[pm], a[pr]
    if v[a[pm]] < v[a[pl]]:
        a[pm], a[pl] = a[pl], a[pm]
    vp = v[a[pm]]
    a[pm], a[pr - 1] = a[pr - 1], a[pm]
    inner = v[a[pl + 1:pr - 1]]
    # The left scan stops at a score >= pivot (the pivot itself at pr-1 ends it); the right scan
    # at a score <= pivot (the median-of-three leaves one at pl).
    left = np.append(np.flatnonzero(inner >= vp) + (pl + 1), pr - 1)
    right = np.append((np.flatnonzero(inner <= vp) + (pl + 1))[::-1], pl)
    m = min(len(left), len(right))
    crossed = np.flatnonzero(left[:m] >= right[:m])
    s = int(crossed[0]) if len(crossed) else m  # swaps before the scans cross
    if s:
        lo, hi = left[:s], right[:s]
        a[lo], a[hi] = a[hi], a[lo].copy()
        pi = int(min(left[s], right[s - 1]))
    else:
        pi = int(left[0])
    a[pi], a[pr - 1] = a[pr - 1], a[pi]
    return pi


def _insertion(v: np.ndarray, a: np.ndarray, pl: int, pr: int) -> None:
    seg = [int(x) for x in a[pl:pr + 1]]
    for i in range(1, len(seg)):
        vi = seg[i]
        key = v[vi]
        j = i
        while j > 0 and key < v[seg[j - 1]]:
            seg[j] = seg[j - 1]
            j -= 1
        seg[j] = vi
    a[pl:pr + 1] = seg


def _heapsort(v: np.ndarray, a: np.ndarray, pl: int, pr: int) -> None:
    n = pr - pl + 1
    h = [0] + [int(x) for x in a[pl:pr + 1]]  # 1-based heap, as the original indexes it

    def sift(tmp: int, i: int, size: int) -> None:
        j = i << 1
        while j <= size:
            if j < size and v[h[j]] < v[h[j + 1]]:
                j += 1
            if v[tmp] < v[h[j]]:
                h[i] = h[j]
                i = j
                j += j
            else:
                break
        h[i] = tmp

    for root in range(n >> 1, 0, -1):
        sift(h[root], root, n)
    while n > 1:
        tmp = h[n]
        h[n] = h[1]
        n -= 1
        sift(tmp, 1, n)
    a[pl:pr + 1] = h[1:]


def legacy_argsort_tail(row: np.ndarray, k: int) -> np.ndarray:
    """The last `k` entries of numpy < 1.25's `np.argsort(row)` (default kind) on float64
    scores without NaN, in argsort's order: `[::-1]` of it is the released scripts' top-k."""
    n = len(row)
    k = min(k, n)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    v = np.asarray(row, dtype=np.float64)
    if _unambiguous(v, k):
        top = np.argpartition(v, n - k)[n - k:] if k < n else np.arange(n)
        return top[np.argsort(v[top], kind="stable")]
    a = np.arange(n, dtype=np.int64)
    want = n - k  # positions want..n-1 are the answer
    stack = [(0, n - 1, _depth_limit(n))]
    while stack:
        pl, pr, depth = stack.pop()
        if depth < 0:
            _heapsort(v, a, pl, pr)
            continue
        while pr - pl > _SMALL:
            pi = _partition(v, a, pl, pr)
            depth -= 1
            if pi - pl < pr - pi:
                pushed, (pl, pr) = (pi + 1, pr), (pl, pi - 1)
            else:
                pushed, (pl, pr) = (pl, pi - 1), (pi + 1, pr)
            if pushed[1] >= want and pushed[1] >= pushed[0]:
                stack.append((*pushed, depth))
            if pr < want:
                break
        else:
            _insertion(v, a, pl, pr)
    return a[want:].copy()


def _unambiguous(v: np.ndarray, k: int) -> bool:
    """Whether every sort puts the same indices in the last k positions in the same order."""
    n = len(v)
    m = min(n, k + 1)
    best = np.partition(v, n - m)[n - m:]
    best.sort()
    return bool(np.all(np.diff(best) > 0))
