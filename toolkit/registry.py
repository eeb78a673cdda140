"""The toolkit's registries: children of mmengine's, under the scope ``toolkit``.

Configs with ``default_scope='toolkit'`` refer to the classes registered here by
type name; anything not found here falls back to mmengine's root registries.
Every registry the Runner consults has a child here (as in mmaction2), so the
scope resolves cleanly.
"""

from mmengine import registry as root
from mmengine.registry import Registry


def _child(name: str, parent: Registry, locations: tuple[str, ...] = ()) -> Registry:
    return Registry(name, parent=parent, scope="toolkit", locations=list(locations))


MODELS = _child("model", root.MODELS, ("toolkit.engine.models", "toolkit.codecs.inr.networks"))
DATASETS = _child("dataset", root.DATASETS, ("toolkit.engine.datasets",))
METRICS = _child("metric", root.METRICS)
HOOKS = _child("hook", root.HOOKS, ("toolkit.engine.hooks",))
TRANSFORMS = _child("transform", root.TRANSFORMS)
RUNNERS = _child("runner", root.RUNNERS)
RUNNER_CONSTRUCTORS = _child("runner constructor", root.RUNNER_CONSTRUCTORS)
LOOPS = _child("loop", root.LOOPS)
DATA_SAMPLERS = _child("data sampler", root.DATA_SAMPLERS)
MODEL_WRAPPERS = _child("model_wrapper", root.MODEL_WRAPPERS)
WEIGHT_INITIALIZERS = _child("weight initializer", root.WEIGHT_INITIALIZERS)
OPTIMIZERS = _child("optimizer", root.OPTIMIZERS)
OPTIM_WRAPPERS = _child("optim_wrapper", root.OPTIM_WRAPPERS)
OPTIM_WRAPPER_CONSTRUCTORS = _child("optimizer wrapper constructor", root.OPTIM_WRAPPER_CONSTRUCTORS)
PARAM_SCHEDULERS = _child("parameter scheduler", root.PARAM_SCHEDULERS)
EVALUATOR = _child("evaluator", root.EVALUATOR)
TASK_UTILS = _child("task util", root.TASK_UTILS)
VISUALIZERS = _child("visualizer", root.VISUALIZERS)
VISBACKENDS = _child("vis_backend", root.VISBACKENDS)
LOG_PROCESSORS = _child("log_processor", root.LOG_PROCESSORS)
FUNCTIONS = _child("function", root.FUNCTIONS)

# Every codec by name: "nerv", "dnerv", "ffnerv" (INR), "h264", "hevc" (classical).
CODECS = Registry("codec", scope="toolkit",
                  locations=["toolkit.codecs.inr.codec", "toolkit.codecs.classical"])
