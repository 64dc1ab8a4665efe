"""tinyfuse: multimodal TinyML from raw sensor recordings to an int8 model on a microcontroller.

The layers, bottom to top (each imports only those below it):

* :mod:`tinyfuse.core`: errors, spec helpers, int8 quantisation, the TFLite Micro reference,
  the :class:`~tinyfuse.core.bundle.Bundle`;
* :mod:`tinyfuse.sensors`: modality specs, front-ends, loaders, simulators, the
  :class:`~tinyfuse.sensors.preprocess.Preprocessor`;
* :mod:`tinyfuse.fusion`: the fusion model, distillation, pruning, quantisation, search, the
  build pipeline;
* :mod:`tinyfuse.firmware`: the compiler (imports only ``core``), runtime, boards;
* :mod:`tinyfuse.apps`: policy, confirmation, alerts, the runner and the command line.
"""

__version__ = "0.2.0"
