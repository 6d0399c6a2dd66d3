import torch
from torch import nn

from core.models.domain_stats import estimate_statistics, using_statistics


def _data():
    g = torch.Generator().manual_seed(0)
    return torch.randn(2000, 3, generator=g) * torch.tensor([1.0, 2.0, 3.0]) + torch.tensor([5.0, -1.0, 0.0])


def test_estimates_the_population_statistics_and_leaves_the_module_alone():
    net = nn.Sequential(nn.BatchNorm1d(3))
    net.eval()
    x = _data()
    state = {k: v.clone() for k, v in net.state_dict().items()}
    stats = estimate_statistics(net, x.split(200))
    assert torch.allclose(stats["0.running_mean"], x.mean(0), atol=1e-5)
    # the mean of per-batch unbiased variances estimates the population variance
    assert torch.allclose(stats["0.running_var"], x.var(0), rtol=0.05)
    assert all(torch.equal(v, state[k]) for k, v in net.state_dict().items())
    assert not net.training and net[0].momentum == 0.1


def test_using_statistics_normalises_with_them_then_restores():
    net = nn.Sequential(nn.BatchNorm1d(3)).eval()
    x = _data()
    stats = estimate_statistics(net, [x])
    with using_statistics(net, stats):
        y = net(x)
        assert torch.allclose(y.mean(0), torch.zeros(3), atol=1e-4)
        assert torch.allclose(y.std(0), torch.ones(3), atol=1e-2)
    assert torch.equal(net[0].running_mean, torch.zeros(3))


def test_modules_without_normalisation_are_untouched():
    net = nn.Sequential(nn.Linear(3, 2))
    assert estimate_statistics(net, [_data()]) == {}
    with using_statistics(net, {}):
        assert net(_data()).shape == (2000, 2)
