"""The backbone: 45 sites of a US research and education network, 51 links, routing.

Sites are hubs (points of presence on the coasts and in the centre), national-lab and
university spurs, and three European peers reached by three transatlantic links. Each
undirected link is two directed links (102 in all, the nodes of the forecasting graph):
link ``2 i`` runs ``a -> b`` and link ``2 i + 1`` runs ``b -> a`` for the i-th pair.
Routing is shortest path by great-circle length plus a per-hop cost (SciPy Dijkstra).
Pure NumPy/SciPy; no randomness (the topology is fixed, the traffic is seeded).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# name, kind, latitude, longitude, IANA time zone, UTC offset (standard time, hours), gravity mass
SITES: tuple[tuple[str, str, float, float, str, int, float], ...] = (
    ("SEAT", "hub", 47.61, -122.33, "America/Los_Angeles", -8, 2.0),
    ("SACR", "hub", 38.58, -121.49, "America/Los_Angeles", -8, 1.0),
    ("SUNN", "hub", 37.37, -122.04, "America/Los_Angeles", -8, 3.0),
    ("LOSA", "hub", 34.05, -118.24, "America/Los_Angeles", -8, 3.0),
    ("SALT", "hub", 40.76, -111.89, "America/Denver", -7, 1.0),
    ("BOIS", "hub", 43.62, -116.20, "America/Boise", -7, 0.6),
    ("DENV", "hub", 39.74, -104.99, "America/Denver", -7, 2.0),
    ("ALBQ", "hub", 35.08, -106.65, "America/Denver", -7, 0.8),
    ("ELPA", "hub", 31.76, -106.49, "America/Denver", -7, 0.5),
    ("HOUS", "hub", 29.76, -95.37, "America/Chicago", -6, 2.0),
    ("KANS", "hub", 39.10, -94.58, "America/Chicago", -6, 1.2),
    ("CHIC", "hub", 41.88, -87.63, "America/Chicago", -6, 3.0),
    ("NASH", "hub", 36.16, -86.78, "America/Chicago", -6, 1.0),
    ("ATLA", "hub", 33.75, -84.39, "America/New_York", -5, 2.0),
    ("WASH", "hub", 38.90, -77.04, "America/New_York", -5, 3.0),
    ("NEWY", "hub", 40.71, -74.01, "America/New_York", -5, 3.0),
    ("BOST", "hub", 42.36, -71.06, "America/New_York", -5, 2.0),
    ("PNNL", "lab", 46.35, -119.28, "America/Los_Angeles", -8, 1.5),
    ("INL", "lab", 43.52, -112.05, "America/Boise", -7, 1.0),
    ("LBNL", "lab", 37.88, -122.25, "America/Los_Angeles", -8, 5.0),
    ("SLAC", "lab", 37.42, -122.20, "America/Los_Angeles", -8, 4.0),
    ("LLNL", "lab", 37.69, -121.71, "America/Los_Angeles", -8, 2.0),
    ("LANL", "lab", 35.88, -106.30, "America/Denver", -7, 2.0),
    ("SNLA", "lab", 35.05, -106.54, "America/Denver", -7, 0.8),
    ("NREL", "lab", 39.74, -105.17, "America/Denver", -7, 0.6),
    ("ANL", "lab", 41.71, -87.98, "America/Chicago", -6, 4.0),
    ("FNAL", "lab", 41.84, -88.26, "America/Chicago", -6, 5.0),
    ("AMES", "lab", 42.03, -93.65, "America/Chicago", -6, 0.15),
    ("ORNL", "lab", 35.93, -84.31, "America/New_York", -5, 3.5),
    ("BNL", "lab", 40.87, -72.88, "America/New_York", -5, 5.0),
    ("PPPL", "lab", 40.35, -74.60, "America/New_York", -5, 0.6),
    ("JLAB", "lab", 37.10, -76.48, "America/New_York", -5, 0.6),
    ("SRS", "lab", 33.34, -81.74, "America/New_York", -5, 0.15),
    ("GA", "lab", 32.90, -117.23, "America/Los_Angeles", -8, 0.15),
    ("SDSC", "university", 32.88, -117.24, "America/Los_Angeles", -8, 1.5),
    ("CALT", "university", 34.14, -118.13, "America/Los_Angeles", -8, 1.5),
    ("TACC", "university", 30.39, -97.73, "America/Chicago", -6, 1.5),
    ("NCAR", "university", 40.00, -105.27, "America/Denver", -7, 1.5),
    ("NCSA", "university", 40.11, -88.23, "America/Chicago", -6, 1.5),
    ("UMICH", "university", 42.28, -83.74, "America/New_York", -5, 1.5),
    ("MIT", "university", 42.36, -71.09, "America/New_York", -5, 1.5),
    ("PSC", "university", 40.44, -80.00, "America/New_York", -5, 1.2),
    ("LOND", "europe", 51.51, -0.13, "Europe/London", 0, 3.0),
    ("AMST", "europe", 52.37, 4.90, "Europe/Amsterdam", 1, 3.0),
    ("CERN", "europe", 46.23, 6.05, "Europe/Zurich", 1, 6.0),
)

# (a, b, capacity in Gbps per direction)
LINKS: tuple[tuple[str, str, float], ...] = (
    # backbone between hubs (21: a ring over the north, centre and south with 5 loops)
    ("SEAT", "SACR", 200), ("SEAT", "BOIS", 100), ("BOIS", "SALT", 100), ("SACR", "SUNN", 400),
    ("SACR", "SALT", 400), ("SUNN", "LOSA", 400), ("LOSA", "ELPA", 200), ("SALT", "DENV", 400),
    ("DENV", "ALBQ", 200), ("ALBQ", "ELPA", 100), ("ELPA", "HOUS", 200), ("DENV", "KANS", 400),
    ("KANS", "HOUS", 200), ("KANS", "CHIC", 400), ("CHIC", "NASH", 200), ("NASH", "ATLA", 200),
    ("ATLA", "WASH", 200), ("CHIC", "NEWY", 400), ("CHIC", "WASH", 400), ("WASH", "NEWY", 400),
    ("NEWY", "BOST", 200),
    # national-lab spurs (17)
    ("PNNL", "SEAT", 100), ("INL", "BOIS", 100), ("LBNL", "SUNN", 400), ("SLAC", "SUNN", 400),
    ("LLNL", "SACR", 100), ("LANL", "ALBQ", 100), ("SNLA", "ALBQ", 40), ("NREL", "DENV", 40),
    ("ANL", "CHIC", 400), ("FNAL", "CHIC", 400), ("AMES", "CHIC", 10), ("ORNL", "NASH", 200),
    ("BNL", "NEWY", 400), ("PPPL", "NEWY", 40), ("JLAB", "WASH", 40), ("SRS", "ATLA", 10),
    ("GA", "LOSA", 10),
    # university and supercomputer-centre spurs (8)
    ("SDSC", "LOSA", 100), ("CALT", "LOSA", 100), ("TACC", "HOUS", 100), ("NCAR", "DENV", 100),
    ("NCSA", "CHIC", 100), ("UMICH", "CHIC", 100), ("MIT", "BOST", 100), ("PSC", "WASH", 100),
    # transatlantic (3) and European (2)
    ("NEWY", "LOND", 400), ("BOST", "AMST", 100), ("WASH", "CERN", 400),
    ("LOND", "AMST", 200), ("AMST", "CERN", 400),
)
HOP_COST_KM = 200.0   # a router hop costs like 200 km of fibre: fewer hops win near-ties


@dataclass(frozen=True)
class Topology:
    """Sites, directed links, link adjacency and the shortest-path routing matrix.

    Attributes:
        names, kinds, timezones: ``(n,)`` site names, kinds and IANA time zones.
        utc_offset: ``(n,)`` standard-time offset in hours; mass: ``(n,)`` gravity mass.
        lat_lon: ``(n, 2)`` degrees.
        source, target: ``(L,)`` site index of each directed link (``L = 2 * pairs``).
        capacity, length_km: ``(L,)`` Gbps per direction and great-circle length.
        pairs: ``(P, 2)`` ordered origin-destination site pairs (all ``o != d``).
        routing: ``(L, P)`` int8, 1 where pair p's shortest path uses link l.
    """

    names: tuple[str, ...]
    kinds: tuple[str, ...]
    timezones: tuple[str, ...]
    utc_offset: np.ndarray
    mass: np.ndarray
    lat_lon: np.ndarray
    source: np.ndarray
    target: np.ndarray
    capacity: np.ndarray
    length_km: np.ndarray
    pairs: np.ndarray
    routing: np.ndarray

    @property
    def n_links(self) -> int:
        return len(self.source)

    @property
    def link_names(self) -> list[str]:
        return [f"{self.names[a]}->{self.names[b]}" for a, b in zip(self.source, self.target)]

    def adjacency(self) -> np.ndarray:
        """``(L, L)`` int8 link graph: 1 where two different links share a router."""
        return link_adjacency(self.source, self.target)


def great_circle_km(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Haversine distance of ``(..., 2)`` latitude/longitude pairs in degrees -> km."""
    la1, lo1, la2, lo2 = (np.radians(v) for v in (a[..., 0], a[..., 1], b[..., 0], b[..., 1]))
    h = np.sin((la2 - la1) / 2) ** 2 + np.cos(la1) * np.cos(la2) * np.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(h))


def link_adjacency(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``(L, L)`` int8: links adjacent when they share an endpoint (diagonal 0)."""
    ends = np.stack([source, target], axis=1)
    shared = (ends[:, None, :, None] == ends[None, :, None, :]).any(axis=(2, 3))
    np.fill_diagonal(shared, False)
    return shared.astype(np.int8)


def shortest_path_routing(n: int, source: np.ndarray, target: np.ndarray, cost: np.ndarray,
                          pairs: np.ndarray) -> np.ndarray:
    """``(L, P)`` int8 routing matrix of least-cost paths (Dijkstra; ties broken by SciPy)."""
    from scipy.sparse import csr_matrix  # noqa: PLC0415
    from scipy.sparse.csgraph import dijkstra  # noqa: PLC0415

    graph = csr_matrix((cost, (source, target)), shape=(n, n))
    _, pred = dijkstra(graph, directed=True, return_predecessors=True)
    link_of = {(int(a), int(b)): i for i, (a, b) in enumerate(zip(source, target))}
    routing = np.zeros((len(source), len(pairs)), dtype=np.int8)
    for p, (o, d) in enumerate(pairs):
        node = int(d)
        while node != o:
            prev = int(pred[o, node])
            if prev < 0:
                raise ValueError(f"topology: no path from {o} to {d}")
            routing[link_of[(prev, node)], p] = 1
            node = prev
    return routing


def build_topology() -> Topology:
    """The fixed backbone of :data:`SITES` and :data:`LINKS` with its routing matrix."""
    names = tuple(s[0] for s in SITES)
    index = {name: i for i, name in enumerate(names)}
    lat_lon = np.array([(s[2], s[3]) for s in SITES])
    a = np.array([index[x] for x, _, _ in LINKS])
    b = np.array([index[y] for _, y, _ in LINKS])
    source = np.stack([a, b], axis=1).ravel()     # a->b, b->a, next pair, ...
    target = np.stack([b, a], axis=1).ravel()
    capacity = np.repeat([float(c) for *_, c in LINKS], 2)
    length = great_circle_km(lat_lon[source], lat_lon[target])
    n = len(names)
    o, d = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    pairs = np.stack([o.ravel(), d.ravel()], axis=1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    routing = shortest_path_routing(n, source, target, length + HOP_COST_KM, pairs)
    return Topology(names=names, kinds=tuple(s[1] for s in SITES), timezones=tuple(s[4] for s in SITES),
                    utc_offset=np.array([s[5] for s in SITES], dtype=np.int64),
                    mass=np.array([s[6] for s in SITES]), lat_lon=lat_lon, source=source, target=target,
                    capacity=capacity, length_km=length, pairs=pairs, routing=routing)
