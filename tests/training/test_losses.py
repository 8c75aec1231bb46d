"""The losses against independent numpy formulas of the equations in docs/paper.md."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tkd.training import losses

RNG = np.random.default_rng(0)


def np_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def np_ce(z, y):
    return float(np.mean(-np.log(np_softmax(z)[np.arange(len(y)), y])))


def batch(n=16, c=10, scale=3.0):
    z = RNG.normal(0, scale, (n, c))
    y = RNG.integers(0, c, n)
    return z, y, torch.tensor(z, dtype=torch.float64, requires_grad=True), torch.tensor(y)


def value(terms):
    return losses.total(terms).item()


def test_cross_entropy():
    z, y, tz, ty = batch()
    assert value(losses.cross_entropy(tz, ty)) == pytest.approx(np_ce(z, y), rel=1e-10)


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.5, 0.9])
def test_label_smoothing_matches_smoothed_targets(eps):
    z, y, tz, ty = batch()
    c = z.shape[1]
    q = np.full(z.shape, eps / c)
    q[np.arange(len(y)), y] += 1 - eps
    ref = float(np.mean(-(q * np.log(np_softmax(z))).sum(axis=1)))
    got = value(losses.label_smoothing_loss(tz, ty, eps))
    assert got == pytest.approx(ref, rel=1e-10)
    assert got == pytest.approx(F.cross_entropy(tz, ty, label_smoothing=eps).item(), rel=1e-10)


@pytest.mark.parametrize("beta", [0.0, 0.1, 2.0])
def test_confidence_penalty(beta):
    z, y, tz, ty = batch()
    p = np_softmax(z)
    entropy = -(p * np.log(p)).sum(axis=1)
    ref = np_ce(z, y) - beta * float(entropy.mean())
    terms = losses.confidence_penalty_loss(tz, ty, beta)
    assert value(terms) == pytest.approx(ref, rel=1e-10)
    assert terms["ce"].item() == pytest.approx(np_ce(z, y), rel=1e-10), "the named terms are the paper's"


@pytest.mark.parametrize("eta,k", [(0.6, 5), (0.7, 2), (0.0, 10), (1.0, 3)])
def test_tsd_ranks_the_models_own_output(eta, k):
    z, y, tz, ty = batch()
    p = np_softmax(z)
    ranked = -np.sort(-p, axis=1)
    tsd = float(np.mean(ranked[:, 0] - ranked[:, 1:k].mean(axis=1)))
    ref = eta * np_ce(z, y) + (1 - eta) * tsd
    terms = losses.tsd_loss(tz, ty, eta, k)
    assert value(terms) == pytest.approx(ref, rel=1e-10)
    assert terms["tsd"].item() == pytest.approx((1 - eta) * tsd, rel=1e-10, abs=1e-12)


def test_tsd_gradient_flows_through_picked_probabilities():
    z, y, tz, ty = batch(n=4, c=6)
    losses.total(losses.tsd_loss(tz, ty, eta=0.0, k=3)).backward()
    # d/dz of p_(1) - mean(p_(2), p_(3)) is nonzero and each row's gradient sums to 0 (softmax)
    g = tz.grad.numpy()
    assert np.abs(g).sum() > 0
    np.testing.assert_allclose(g.sum(axis=1), 0, atol=1e-12)


@pytest.mark.parametrize("lam,t", [(0.6, 1.0), (0.0, 4.0), (1.0, 2.0), (0.3, 0.5)])
def test_student_loss(lam, t):
    zs, y, ts, ty = batch()
    zt = RNG.normal(0, 3, zs.shape)
    tt = torch.tensor(zt, requires_grad=True)
    pt, ps = np_softmax(zt / t), np_softmax(zs / t)
    kl = float(np.mean((pt * (np.log(pt) - np.log(ps))).sum(axis=1)))
    ref = lam * np_ce(zs, y) + (1 - lam) * t * t * kl
    terms = losses.student_loss(ts, tt, ty, lam, t)
    out = losses.total(terms)
    assert out.item() == pytest.approx(ref, rel=1e-9)
    assert terms["kl"].item() == pytest.approx((1 - lam) * t * t * kl, rel=1e-9, abs=1e-12)
    out.backward()
    assert tt.grad is None, "the teacher must receive no gradient"
    assert ts.grad is not None


def test_all_losses_differentiable_and_scalar():
    _, _, tz, ty = batch()
    for fn, kw in [(losses.cross_entropy, {}), (losses.label_smoothing_loss, {"epsilon": 0.1}),
                   (losses.confidence_penalty_loss, {"beta": 0.1}), (losses.tsd_loss, {"eta": 0.6})]:
        out = losses.total(fn(tz, ty, **kw))
        assert out.shape == ()
        (g,) = torch.autograd.grad(out, tz)
        assert torch.isfinite(g).all()


@pytest.mark.parametrize("call,name", [
    (lambda z, y: losses.label_smoothing_loss(z, y, 1.0), "epsilon"),
    (lambda z, y: losses.label_smoothing_loss(z, y, -0.1), "epsilon"),
    (lambda z, y: losses.confidence_penalty_loss(z, y, -1), "beta"),
    (lambda z, y: losses.tsd_loss(z, y, 1.5), "eta"),
    (lambda z, y: losses.tsd_loss(z, y, 0.6, k=1), "k"),
    (lambda z, y: losses.tsd_loss(z, y, 0.6, k=11), "k"),
    (lambda z, y: losses.student_loss(z, z, y, 1.2), "lam"),
    (lambda z, y: losses.student_loss(z, z, y, 0.5, temperature=0), "temperature"),
])
def test_out_of_range_parameters_name_themselves(call, name):
    _, _, tz, ty = batch()
    with pytest.raises(ValueError, match=name):
        call(tz, ty)


def test_patriarch_loss_by_name():
    z, y, tz, ty = batch()
    assert value(losses.patriarch_loss("ce")(tz, ty)) == pytest.approx(np_ce(z, y))
    assert value(losses.patriarch_loss("tsd", eta=0.6, k=5)(tz, ty)) == pytest.approx(
        value(losses.tsd_loss(tz, ty, 0.6, 5)))
    with pytest.raises(ValueError, match="loss='kd'"):
        losses.patriarch_loss("kd")
    with pytest.raises(ValueError, match="epsilon"):
        losses.patriarch_loss("ls")
    with pytest.raises(ValueError, match="beta"):
        losses.patriarch_loss("ls", epsilon=0.1, beta=0.1)
    with pytest.raises(ValueError, match="eta"):
        losses.patriarch_loss("tsd", eta=2.0)


def test_the_registry_is_the_one_list_of_losses_and_parameters():
    """The schema's loss names and parameters equal the registry's (a new loss parameter cannot be
    dropped silently on its way from config to training)."""
    import yaml

    from helpers import REPO

    schema = yaml.safe_load((REPO / "tkd/grid/schemas/config.schema.yaml").read_text())["$defs"]["method"]
    assert set(schema["properties"]["loss"]["enum"]) == set(losses.PATRIARCH_LOSSES)
    params = {p for name in losses.PATRIARCH_LOSSES for p in losses.loss_params(name)}
    student = {"lam", "temperature", "student_init"}
    assert set(schema["properties"]) == {"loss"} | params | student
    assert losses.loss_params("tsd") == {"eta": True, "k": False}
    rules = {rule["if"]["properties"]["loss"]["const"]: rule["then"] for rule in schema["allOf"]}
    for name in losses.PATRIARCH_LOSSES:
        required = {p for p, req in losses.loss_params(name).items() if req}
        assert set(rules[name].get("required", [])) == required, name
        assert {p for p, v in rules[name]["properties"].items() if v == {"not": {}}} == params - set(losses.loss_params(name))
