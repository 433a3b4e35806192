"""Traffic data: the backbone, the simulated physics, the HDF5 file and the readers."""
from __future__ import annotations

import h5py
import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from uqhpo.apps.traffic import data, prep, simulate
from uqhpo.apps.traffic.topology import build_topology


@pytest.fixture(scope="module")
def topo():
    return build_topology()


@pytest.fixture(scope="module")
def sim(topo):
    return simulate.simulate(topo, seed=1, days=56)


@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    return data.generate_file(tmp_path_factory.mktemp("traffic") / "traffic.h5", days=28, seed=3)


def test_topology_is_a_connected_backbone_of_51_links(topo):
    n = len(topo.names)
    assert 45 <= n <= 50 and topo.n_links == 102
    pairs = {frozenset((int(a), int(b))) for a, b in zip(topo.source, topo.target)}
    assert len(pairs) == 51                                        # each physical link in both directions
    graph = csr_matrix((np.ones(102), (topo.source, topo.target)), shape=(n, n))
    assert connected_components(graph, directed=False)[0] == 1
    assert topo.capacity.min() >= 10 and topo.capacity.max() <= 400
    assert np.array_equal(topo.capacity[0::2], topo.capacity[1::2])
    europe = {i for i, k in enumerate(topo.kinds) if k == "europe"}
    transatlantic = {p for p in pairs if len(p & europe) == 1}
    assert 2 <= len(transatlantic) <= 4
    assert {"hub", "lab", "university", "europe"} == set(topo.kinds)


def test_link_adjacency_means_a_shared_router(topo):
    adj = topo.adjacency()
    assert adj.shape == (102, 102) and np.array_equal(adj, adj.T) and not adj.diagonal().any()
    for i, j in [(0, 1), (0, 5), (3, 40)]:
        share = bool({topo.source[i], topo.target[i]} & {topo.source[j], topo.target[j]})
        assert bool(adj[i, j]) == share


def test_routing_follows_a_path_from_origin_to_destination(topo):
    assert topo.routing.shape == (102, len(topo.pairs)) == (102, 45 * 44)
    for p in (0, 77, 1500, len(topo.pairs) - 1):
        o, d = topo.pairs[p]
        used = np.flatnonzero(topo.routing[:, p])
        out_deg = np.bincount(topo.source[used], minlength=45) - np.bincount(topo.target[used], minlength=45)
        assert out_deg[o] == 1 and out_deg[d] == -1 and np.count_nonzero(out_deg) == 2   # one simple path


def test_loads_respect_capacity_and_outages_read_zero(topo, sim):
    x = sim["traffic"]
    assert x.shape == (56 * 24, 102) and np.all(x >= 0) and np.all(x <= topo.capacity + 1e-9)
    assert np.all(x[sim["outage"]] == 0) and sim["outage"].mean() < 0.01
    assert np.array_equal(sim["outage"][:, 0::2], sim["outage"][:, 1::2])   # a cut takes both directions
    util = x.mean(0) / topo.capacity
    assert 0.2 < util.max() < 0.6 and util.min() > 0.005


def test_diurnal_cycle_follows_local_time(topo, sim):
    hours = (sim["time"] // 3600) % 24
    def peak_hour_utc(link: str) -> int:
        series = sim["traffic"][:, topo.link_names.index(link)]
        return int(np.argmax([series[hours == h].mean() for h in range(24)]))
    east, west = peak_hour_utc("BNL->NEWY"), peak_hour_utc("SLAC->SUNN")
    assert (west - east) % 24 in range(1, 6)          # the Pacific afternoon comes ~3 h after the East's


def test_weekends_are_quieter_and_noise_is_correlated(topo, sim):
    day = (sim["time"] // 86400 + 3) % 7                # 0 = Monday
    total = sim["traffic"].sum(1)
    ratio = total[day >= 5].mean() / total[day < 5].mean()
    assert 0.6 < ratio < 0.85
    noise = simulate.ar1_noise(np.random.default_rng(0), 20_000, 3, 0.85)
    lag1 = np.corrcoef(noise[1:, 0], noise[:-1, 0])[0, 1]
    assert abs(noise.std() - 1) < 0.05 and abs(lag1 - 0.85) < 0.02


def test_elephants_add_bursts(topo):
    calm = simulate.simulate(topo, seed=2, days=28, elephants_per_day=0.0)["traffic"]
    busy = simulate.simulate(topo, seed=2, days=28)["traffic"]
    link = topo.link_names.index("FNAL->CHIC")
    assert busy[:, link].max() - calm[:, link].max() > 10           # a 10-40 Gbps transfer shows
    jumps = lambda x: np.quantile(np.abs(np.diff(x[:, link])), 0.999)  # noqa: E731
    assert jumps(busy) > 1.5 * jumps(calm)


def test_file_is_reproducible_with_its_parameters(tmp_path, small_file):
    again = data.generate_file(tmp_path / "again.h5", days=28, seed=3)
    assert again.read_bytes() == small_file.read_bytes()
    assert data.generate_file(tmp_path / "other.h5", days=28, seed=4).read_bytes() != small_file.read_bytes()
    assert not list(tmp_path.glob("*.tmp"))
    with h5py.File(small_file) as f:
        assert f["traffic"].shape == (28 * 24, 102) and f["adjacency"].shape == (102, 102)
        assert f["links"].shape == (102, 4) and f["routing"].shape == (102, 1980) and len(f["node_names"]) == 45
        assert f.attrs["generator_version"] == data.GENERATOR_VERSION and f.attrs["seed"] == 3
        assert '"days": 28' in f.attrs["parameters"]


def test_hdf5_and_csv_readers_agree(tmp_path, small_file):
    h5 = data.load_traffic(small_file)
    assert h5.traffic.shape == (672, 102) and h5.steps_per_day == 24 and h5.capacity.max() == 400
    csv_path = data.write_csv(tmp_path / "traffic.csv", h5)
    back = data.load_traffic(csv_path)                                 # graph from the 'A->B' names
    assert np.array_equal(back.time, h5.time) and np.array_equal(back.adjacency, h5.adjacency)
    assert np.allclose(back.traffic, h5.traffic, rtol=1e-5)
    text = csv_path.read_text().splitlines()
    header = ["time"] + [f"l{i}" for i in range(102)]
    (tmp_path / "anon.csv").write_text("\n".join([",".join(header)] + text[1:]) + "\n")
    with pytest.raises(ValueError, match="no link graph: name the columns 'A->B' or set data.adjacency_file"):
        data.load_traffic(tmp_path / "anon.csv")
    np.save(tmp_path / "adj.npy", h5.adjacency)
    assert np.array_equal(data.load_traffic(tmp_path / "anon.csv", tmp_path / "adj.npy").adjacency, h5.adjacency)


def _write(path, **arrays):
    with h5py.File(path, "w") as f:
        for k, v in arrays.items():
            f.create_dataset(k, data=v)
    return path


def test_bad_files_get_one_line_errors(tmp_path):
    t = np.arange(48) * 3600
    good = dict(traffic=np.ones((48, 3)), time=t, adjacency=np.ones((3, 3)) - np.eye(3))
    with pytest.raises(FileNotFoundError, match="traffic data file not found: .*absent.h5"):
        data.load_traffic(tmp_path / "absent.h5")
    with pytest.raises(ValueError, match="missing dataset '/adjacency'"):
        data.load_traffic(_write(tmp_path / "a.h5", traffic=good["traffic"], time=t))
    with pytest.raises(ValueError, match=r"b.h5: dataset '/adjacency' has shape \(2, 2\), expected \(3, 3\)"):
        data.load_traffic(_write(tmp_path / "b.h5", **{**good, "adjacency": np.zeros((2, 2))}))
    nan = good["traffic"].copy()
    nan[5, 2] = np.nan
    with pytest.raises(ValueError, match=r"c.h5: dataset '/traffic' contains NaN or inf \(first at row 5, link 2\)"):
        data.load_traffic(_write(tmp_path / "c.h5", **{**good, "traffic": nan}))
    with pytest.raises(ValueError, match=r"d.h5: dataset '/time' has shape \(47,\)"):
        data.load_traffic(_write(tmp_path / "d.h5", **{**good, "time": t[:-1]}))
    (tmp_path / "bad.csv").write_text("time,A->B,B->A\n2024-01-01T00:00,1,2\nnoon,1,2\n")
    with pytest.raises(ValueError, match="bad.csv:3: cannot read timestamp 'noon'"):
        data.load_traffic(tmp_path / "bad.csv")


def test_split_is_chronological_by_days(small_file):
    d = prep.prepare(data.load_traffic(small_file), train_days=14, val_days=7, test_days=7, horizon=6)
    assert d.bounds == {"train": (0, 336), "val": (336, 504), "test": (504, 672)}
    for split, (lo, hi) in d.bounds.items():
        o = d.origins[split]
        assert o.min() + 1 >= lo and o.max() + 6 < hi                 # every target inside its split
    assert d.origins["train"].min() == prep.MAX_WINDOW - 1 and d.origins["val"][0] == 335
    assert np.allclose(d.scaled[:336].mean(0), 0, atol=1e-4)      # scaled with training statistics
    with pytest.raises(ValueError, match="= 40 days exceeds the 28.0 days in"):
        prep.prepare(data.load_traffic(small_file), train_days=20, val_days=10, test_days=10)
    with pytest.raises(ValueError, match="data.train_days = 2 is too short"):
        prep.prepare(data.load_traffic(small_file), train_days=2, val_days=7, test_days=7)
