"""Datasets as domains: digits (MNIST, USPS, MNIST-M) and image folders, converted once and cached."""

from core.data.domains import (
    DIGIT_DOMAINS,
    DatasetStatus,
    Domain,
    InputSpec,
    dataset_status,
    load_domain,
)

__all__ = ["DIGIT_DOMAINS", "DatasetStatus", "Domain", "InputSpec", "dataset_status", "load_domain"]
