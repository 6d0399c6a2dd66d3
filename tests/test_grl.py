import pytest
import torch

from core.models import DigitDANN, GradientReversal, grad_reverse


@pytest.mark.parametrize("lambd", [0.0, 0.1, 1.0, 2.5])
def test_forward_is_identity_and_backward_flips_and_scales(lambd):
    x = torch.randn(4, 3, requires_grad=True)
    upstream = torch.randn(4, 3)
    y = grad_reverse(x, lambd)
    assert torch.equal(y, x)
    y.backward(upstream)
    assert torch.allclose(x.grad, -lambd * upstream)


def test_module_form_uses_its_lambda():
    layer = GradientReversal(0.5)
    x = torch.ones(2, requires_grad=True)
    layer(x).sum().backward()
    assert torch.equal(x.grad, torch.full((2,), -0.5))


def test_domain_loss_pushes_features_against_the_domain_classifier():
    """Through the reversal layer the extractor gets the negated gradient of the domain loss,
    while the domain head gets the ordinary one."""
    torch.manual_seed(0)
    net = DigitDANN()
    x = torch.randn(8, 3, 28, 28)
    y = torch.tensor([0.0, 1.0] * 4)

    def grads(lambd):
        net.zero_grad()
        logits = net.discriminate(net.features(x), lambd)
        torch.nn.functional.binary_cross_entropy_with_logits(logits, y).backward()
        feat_grad = net.features[0].weight.grad
        return feat_grad, net.domain_head[0].weight.grad.clone()

    feat_plain, head_plain = grads(-1.0)  # lambda = -1 is the un-reversed gradient
    feat_rev, head_rev = grads(1.0)
    assert torch.allclose(feat_rev, -feat_plain, atol=1e-6)
    assert torch.allclose(head_rev, head_plain)
    feat_zero, head_zero = grads(0.0)
    assert feat_zero is None  # lambda = 0 detaches: no backward pass through the extractor at all
    assert torch.allclose(head_zero, head_plain)
