"""Plain-Python references for :mod:`postcouple.packing`, written from the
definitions (O(n x bins) scans, heapq), for parity tests and benches."""

from __future__ import annotations

import heapq


def _order(lengths: list[int]) -> list[int]:
    return sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))


def best_fit_decreasing(lengths: list[int], capacity: int) -> list[list[int]]:
    """Each item (longest first) into the bin with the least room that fits."""
    bins: list[list[int]] = []
    room: list[int] = []
    for i in _order(lengths):
        best = -1
        for b, r in enumerate(room):
            if r >= lengths[i] and (best < 0 or r < room[best]):
                best = b
        if best < 0:
            bins.append([])
            room.append(capacity)
            best = len(bins) - 1
        bins[best].append(i)
        room[best] -= lengths[i]
    return bins


def first_fit_decreasing(lengths: list[int], capacity: int) -> list[list[int]]:
    """Each item (longest first) into the first bin that fits."""
    bins: list[list[int]] = []
    room: list[int] = []
    for i in _order(lengths):
        for b, r in enumerate(room):
            if r >= lengths[i]:
                bins[b].append(i)
                room[b] -= lengths[i]
                break
        else:
            bins.append([i])
            room.append(capacity - lengths[i])
    return bins


def karmarkar_karp(w: list[int], k: int, equal_size: bool = False) -> list[list[int]]:
    """Largest differencing method for k partitions (the k-way form verl uses):
    start from one state per item (or per k items with ``equal_size``), then
    repeatedly merge the two states of largest spread, pairing the heaviest
    subset of one with the lightest of the other."""

    def sort_state(sets):
        return sorted(sets, key=lambda s: (-s[0], s[1][0] if s[1] else -1))

    order = sorted(range(len(w)), key=lambda i: (w[i], i))
    heap: list = []
    seq = 0

    def push(sets):
        nonlocal seq
        # max-heap on spread; among equal spreads the later state first
        heapq.heappush(heap, (-(sets[0][0] - sets[-1][0]), -seq, sets))
        seq += 1

    if equal_size:
        for j in range(0, len(order), k):
            push(sort_state([(w[i], [i]) for i in order[j : j + k]]))
    else:
        for i in order:
            push(sort_state([(w[i], [i])] + [(0, []) for _ in range(k - 1)]))
    if not heap:
        return [[] for _ in range(k)]
    while len(heap) > 1:
        a = heapq.heappop(heap)[2]
        b = heapq.heappop(heap)[2]
        push(sort_state([(a[i][0] + b[k - 1 - i][0], a[i][1] + b[k - 1 - i][1]) for i in range(k)]))
    return [sorted(s[1]) for s in heap[0][2]]


def greedy_partition(w: list[int], k: int, equal_size: bool = False) -> list[list[int]]:
    """Largest first, to the partition with the smallest sum (lowest index on ties)."""
    cap = len(w) // k if equal_size else len(w) + 1
    parts: list[list[int]] = [[] for _ in range(k)]
    sums = [0] * k
    for i in sorted(range(len(w)), key=lambda i: (-w[i], i)):
        p = min((p for p in range(k) if len(parts[p]) < cap), key=lambda p: (sums[p], p))
        parts[p].append(i)
        sums[p] += w[i]
    return [sorted(p) for p in parts]


def collate(sequences, pieces, prompt_lengths=None):
    """Flat ``(input_ids, position_ids, labels)`` of a list of ``(seq, offset, len)``."""
    ids, pos, lab = [], [], []
    for s, off, n in pieces:
        plen = 0 if prompt_lengths is None else prompt_lengths[s]
        for t in range(n):
            tok = sequences[s][off + t]
            ids.append(tok)
            pos.append(t)
            lab.append(-100 if t == 0 or off + t < plen else tok)
    return ids, pos, lab
