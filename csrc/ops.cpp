// Every pygan operator schema, declared once. Kernels are registered per
// backend in csrc/cpu and csrc/cuda; autograd and fake kernels in pygan/ops.
#include <Python.h>
#include <torch/library.h>

// `import pygan._C` loads this library, which runs the registrations below.
// The module itself is empty: the ops are reached through torch.ops.pygan.
extern "C" PyMODINIT_FUNC PyInit__C(void) {
  static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, nullptr};
  return PyModule_Create(&module_def);
}

TORCH_LIBRARY(pygan, m) {
  // RMSProp step (torch.optim.RMSprop semantics) on every tensor of the
  // lists, then p.clamp_(-clip, clip) when clip is given, in one pass.
  // momentum_buffers is empty unless momentum > 0; grad_avgs unless centered.
  m.def(
      "rmsprop_clip_(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] square_avgs, "
      "Tensor(c!)[] momentum_buffers, Tensor(d!)[] grad_avgs, float lr, float alpha, "
      "float eps, float weight_decay, float momentum, bool centered, bool maximize, "
      "float? clip) -> ()");
}
