"""The levers of the mechanism study: geometric-mean fusion, cosine relation with a learnable
temperature, gate initialisation, IA learning-rate multiplier, fine-tuning from a trained
baseline, and the per-epoch mechanism monitor."""
import json

import numpy as np
import pytest
import torch

from ianet_viz import SIA, IABlock, build_ianet
from ianet_viz import functional as Fn
from ianet_viz.synthetic import generate_dataset
from ianet_viz.train import TrainConfig, train
from ianet_viz.train.engine import load_init_weights
from ianet_viz.train.logs import MECHANISM_NAME, read_log
from ianet_viz.train.optim import param_groups
from ianet_viz.train.runs import build_model
from ianet_viz.course.mechanism import mechanism_report, monitor, part_lift, self_weight, without_self

from ianet_viz.reference import appearance_loop as naive_appearance  # eq. 1 by its definition, row softmax
from ianet_viz.reference import fuse, location_loop


def naive_cosine_appearance(f, k, tau):
    """Eq. 1 on unit-norm features, logits = tau times the mean patch cosine (tau / K^2 times the sum)."""
    g = f / f.norm(dim=0, keepdim=True).clamp_min(1e-6)
    return naive_appearance(g, k, tau / (k * k))


@pytest.mark.parametrize("relation", ["dot", "cosine"])
@pytest.mark.parametrize("need_maps", [True, False])
def test_mean_fusion_matches_naive_geometric_mean(relation, need_maps):
    torch.manual_seed(0)
    f = torch.randn(1, 6, 4, 3, dtype=torch.float64)
    ks, sigma = (1, 2, 3), (2.0, 3.0)
    if relation == "dot":
        per_k = [naive_appearance(f[0], k, 1 / (6 ** 0.5 * k * k)) for k in ks]
    else:
        per_k = [naive_cosine_appearance(f[0], k, Fn.COSINE_TEMPERATURE) for k in ks]
    s_a = fuse(per_k, "mean")
    s = fuse([s_a, location_loop(4, 3, sigma)], "prod")
    e, maps = Fn.sia(f, ks=ks, sigma=sigma, multi="mean", sia_relation=relation, need_maps=need_maps)
    want = np.einsum("cj,ij->ci", f[0].flatten(1).numpy(), s).reshape(6, 4, 3)
    np.testing.assert_allclose(e[0].numpy(), want, atol=1e-10)
    if need_maps:
        np.testing.assert_allclose(maps["S_A"][0].numpy(), s_a, atol=1e-10)
        np.testing.assert_allclose(maps["S"][0].numpy(), s, atol=1e-10)
        for k, ref in zip(ks, per_k):
            np.testing.assert_allclose(maps[f"S_A_{k}"][0].numpy(), ref, atol=1e-10)


def test_mean_fusion_is_no_sharper_than_its_sharpest_factor():
    """The geometric mean keeps one factor's temperature; the product sharpens (the collapse lead)."""
    torch.manual_seed(1)
    f = torch.relu(torch.randn(2, 32, 8, 4))
    _, prod = Fn.sia(f, ks=(1, 2, 3), use_location=False, multi="prod")
    _, mean = Fn.sia(f, ks=(1, 2, 3), use_location=False, multi="mean")
    factors = max(self_weight(prod[f"S_A_{k}"]) for k in (1, 2, 3))
    assert self_weight(mean["S_A"]) <= factors + 1e-6 < self_weight(prod["S_A"])


@pytest.mark.parametrize("k", [1, 2, 3])
def test_cosine_relation_matches_naive_loop_and_ignores_feature_norms(k):
    torch.manual_seed(2)
    f = torch.randn(1, 5, 3, 4, dtype=torch.float64)
    got = Fn.appearance_relation(f, k, scale=7.0, relation="cosine")
    np.testing.assert_allclose(got[0].numpy(), naive_cosine_appearance(f[0], k, 7.0), atol=1e-10)
    # scaling each position's feature leaves the map unchanged: logits cannot sharpen as norms grow
    scaled = f * torch.rand(1, 1, 3, 4, dtype=torch.float64).mul(100).add(1)
    torch.testing.assert_close(Fn.appearance_relation(scaled, k, scale=7.0, relation="cosine"), got)
    assert not torch.allclose(Fn.appearance_relation(scaled, k), Fn.appearance_relation(f, k))


def test_learnable_temperature_gets_a_gradient_and_needs_cosine():
    sia = SIA(8, sia_relation="cosine", sia_learn_scale=True, sia_scale=5.0)
    assert sia.log_scale.exp().item() == pytest.approx(5.0)
    sia.bn.weight.data.fill_(1.0)
    sia(torch.randn(2, 8, 4, 3)).square().sum().backward()
    assert sia.log_scale.grad is not None and sia.log_scale.grad.abs().item() > 0
    with pytest.raises(ValueError, match="relation='cosine'"):
        SIA(8, sia_learn_scale=True)
    with pytest.raises(ValueError, match="relation"):
        Fn.sia(torch.randn(1, 2, 2, 2), sia_relation="euclid")


def test_gate_init_zero_is_the_identity_and_nonzero_is_not():
    f = torch.randn(2, 8, 4, 3)
    for arrangement in ("sia+cia", "parallel"):
        assert torch.equal(IABlock(8, arrangement=arrangement).eval()(f), f)
        blk = IABlock(8, arrangement=arrangement, gate_init=0.1).eval()
        assert blk.sia.bn.weight.eq(0.1).all() and blk.cia.bn.weight.eq(0.1).all()
        assert not torch.allclose(blk(f), f)


def test_ia_lr_mult_and_gate_decay_groups():
    cfg = TrainConfig(backbone="resnet18", lr=3e-4, ia_lr_mult=10.0, ia_bn_weight_decay=0.0)
    model = build_model(cfg, num_classes=3)
    groups = param_groups(model, cfg)
    lr = {id(p): g.get("lr", cfg.lr) for g in groups for p in g["params"]}
    decay = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    assert len(lr) == sum(1 for p in model.parameters() if p.requires_grad)
    for name, p in model.named_parameters():
        assert lr[id(p)] == pytest.approx(3e-3 if name.startswith("ia_blocks.") else 3e-4), name
    assert decay[id(model.ia_blocks["stage2"].sia.bn.weight)] == 0.0
    assert decay[id(model.backbone.layer1[0].conv1.weight)] == 5e-4
    assert len(param_groups(model, TrainConfig(backbone="resnet18", lr=3e-4))) == 1  # defaults: one group


def test_fresh_mechanism_report_shows_shut_gates():
    torch.manual_seed(0)
    model = build_ianet("resnet18", num_classes=3)
    x = torch.randn(2, 3, 64, 32)
    masks = np.zeros((2, 64, 32), dtype=np.uint8)
    masks[:, :20] = 1
    masks[:, 20:44] = 2
    masks[:, 44:] = 4
    rep = mechanism_report(model, x, masks)
    assert set(rep) == {"stage2", "stage3"}
    for row in rep.values():
        assert row["sia_gate"] == row["cia_gate"] == 0.0
        assert row["sia_ratio"] == row["cia_ratio"] == 0.0  # eq. 9 at init: the block adds nothing
        assert 0.0 < row["self_S"] <= 1.0 and row["lift_local"] > 0
    with pytest.raises(ValueError, match="no IA blocks"):
        mechanism_report(build_ianet("resnet18", num_classes=3, ia_stages=()), x, masks)


def test_part_lift_without_self_cannot_be_won_by_keeping_the_query_cell():
    masks = np.zeros((1, 4, 2), dtype=np.uint8)
    masks[0, :2] = 1
    masks[0, 2:] = 4
    eye = torch.eye(8).unsqueeze(0) * 0.9 + 0.1 / 8
    assert torch.allclose(without_self(eye).diagonal(dim1=1, dim2=2), torch.zeros(1, 8, dtype=torch.float64))
    assert part_lift(eye, masks, (4, 2)) == pytest.approx(1 / 7 * 3 / 0.5, rel=1e-6)  # uniform on the others
    same_part = torch.tensor(masks[0].reshape(-1)[:, None] == masks[0].reshape(-1)[None, :], dtype=torch.float64)
    assert part_lift(same_part.unsqueeze(0), masks, (4, 2)) == pytest.approx(2.0)  # all mass on the part


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    return str(generate_dataset(tmp_path_factory.mktemp("synth"), identities=6, images_per_identity=4,
                                seed=0, height=64, width=32))


def _cfg(root, out, **kw):
    base = dict(dataset="synthetic", data_root=root, synthetic_identities=6, synthetic_images=4, height=64,
                width=32, backbone="resnet18", epochs=2, batch_size=8, num_workers=0, progress=False,
                output=str(out), eval_batch_size=64)
    return TrainConfig(**{**base, **kw})


def test_monitor_logs_every_epoch_from_init_and_resume_keeps_it_consistent(synth_root, tmp_path):
    torch.set_num_threads(1)
    mon = monitor(synth_root, (64, 32), n=4)
    cfg = _cfg(synth_root, tmp_path / "run", sia_relation="cosine", sia_learn_scale=True, multi="mean")
    train(cfg, monitor=mon, callback=lambda r: False)  # stop after epoch 1
    recs = read_log(tmp_path / "run", MECHANISM_NAME)
    assert [r["epoch"] for r in recs] == [0, 1]
    assert recs[0]["mech/stage2/sia_ratio"] == 0.0 and recs[1]["mech/stage2/sia_gate"] > 0
    assert "mech/stage2/sia_temperature" in recs[1]
    with open(tmp_path / "run" / MECHANISM_NAME, "a") as f:  # an epoch that never reached its checkpoint
        f.write(json.dumps({"epoch": 2, "stale": True}) + "\n")
    train(cfg, monitor=mon, resume=True)
    recs = read_log(tmp_path / "run", MECHANISM_NAME)
    assert [r["epoch"] for r in recs] == [0, 1, 2] and "stale" not in recs[-1]


def test_init_from_a_trained_baseline_keeps_its_weights_and_adds_fresh_blocks(synth_root, tmp_path):
    torch.set_num_threads(1)
    base = train(_cfg(synth_root, tmp_path / "base", ia_stages=(), epochs=1))
    model = build_model(_cfg(synth_root, tmp_path / "ia"), num_classes=3)
    missing = load_init_weights(model, tmp_path / "base")
    assert missing and all(k.startswith("ia_blocks.") for k in missing)
    torch.testing.assert_close(model.backbone.layer2[0].conv1.weight, base.model.backbone.layer2[0].conv1.weight)
    x = torch.randn(2, 3, 64, 32)
    torch.testing.assert_close(model.eval()(x), base.model.eval()(x))  # fresh blocks: the same network
    with pytest.raises(ValueError, match="shapes differ|does not match"):
        load_init_weights(build_model(_cfg(synth_root, tmp_path / "x", backbone="resnet34"), 3), tmp_path / "base")


def test_matched_gaussian_has_the_target_self_weight():
    from ianet_viz.course.mechanism import matched_gaussian

    for target in (0.05, 0.3, 0.9):
        assert self_weight(matched_gaussian((16, 8), target)) == pytest.approx(target, abs=1e-4)


def test_mass_split_on_a_map_that_knows_the_parts():
    from ianet_viz.course.mechanism import mass_split

    masks = np.zeros((1, 4, 2), dtype=np.uint8)
    masks[0, 1:3] = 2  # torso in rows 1-2, background elsewhere
    labels = masks[0].reshape(-1)
    same = torch.tensor((labels[:, None] == labels[None, :]) & (labels[:, None] != 0), dtype=torch.float64)
    same = same + torch.eye(8, dtype=torch.float64) * (labels == 0)[:, None]  # background rows: themselves
    split = mass_split(same.unsqueeze(0), masks, (4, 2))
    assert split == pytest.approx({"background": 0.0, "own part": 1.0, "other parts": 0.0})
    uniform = torch.full((1, 8, 8), 1 / 8, dtype=torch.float64)
    assert mass_split(uniform, masks, (4, 2)) == pytest.approx({"background": 4 / 7, "own part": 3 / 7, "other parts": 0.0})


def test_prior_sweep_fuses_the_recorded_appearance_with_each_prior():
    from ianet_viz import RelationRecorder
    from ianet_viz.course.mechanism import prior_sweep

    torch.manual_seed(0)
    model = build_ianet("resnet18", num_classes=3, multi="mean", sia_relation="cosine", sia_learn_scale=True)
    x = torch.randn(2, 3, 128, 64)
    masks = np.zeros((2, 128, 64), dtype=np.uint8)
    masks[:, :40], masks[:, 40:88], masks[:, 88:] = 1, 2, 4
    rows = prior_sweep(model, x, masks, "stage2", sigmas=(0.5, 1e4))
    with torch.no_grad(), RelationRecorder(model, keys=("S_A",)) as rec:
        model(x)
    s_a = rec.maps["stage2"]["S_A"].double()
    # a prior this wide is flat: S is S^A itself
    assert rows[1]["self_S"] == pytest.approx(self_weight(s_a), rel=1e-6)
    assert rows[1]["lift_S"] == pytest.approx(part_lift(s_a, masks, rec.shapes["stage2"]), rel=1e-6)
    # a narrow prior pulls weight onto the query cell, and alone it is more local than a flat one
    assert rows[0]["self_S"] > rows[1]["self_S"] and rows[0]["lift_prior"] > rows[1]["lift_prior"]
    assert rows[0]["lift_local"] == rows[1]["lift_local"]


def test_backbone_lr_mult_slows_the_pretrained_layers_only():
    cfg = TrainConfig(backbone="resnet18", lr=3e-4, backbone_lr_mult=0.1, ia_lr_mult=1.0)
    model = build_model(cfg, num_classes=3)
    lr = {id(p): g.get("lr", cfg.lr) for g in param_groups(model, cfg) for p in g["params"]}
    for name, p in model.named_parameters():
        assert lr[id(p)] == pytest.approx(3e-5 if name.startswith("backbone.") else 3e-4), name
    assert any(not n.startswith(("backbone.", "ia_blocks.")) for n, _ in model.named_parameters())  # the head


def test_backbone_lr_mult_flag_and_config_agree(tmp_path):
    from ianet_viz.train.__main__ import build_parser, config_from_args, given_flags

    def cfg(argv):
        return config_from_args(build_parser().parse_args(argv), given_flags(argv))

    assert cfg(["--backbone-lr-mult", "0.1"]).backbone_lr_mult == 0.1
    (tmp_path / "c.yaml").write_text("backbone_lr_mult: 0.25\n")
    assert cfg(["--config", str(tmp_path / "c.yaml")]).backbone_lr_mult == 0.25
