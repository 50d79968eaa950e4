__version__ = "0.1.0"

def load_policy(path, **kwargs):
    "A trained policy (diffmarket.train.DiffusionPolicy) from a checkpoint file or a directory holding best_model.pt."
    from .train import load_policy as _load
    return _load(path, **kwargs)
