// Every pygan operator schema, declared once. Kernels are registered per
// backend in csrc/cpu and csrc/cuda, fake kernels in pygan/ops, autograd in
// C++ (csrc/*_autograd.cpp), the check ops' kernels in csrc/*_checks.cpp.
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
  // Its argument checks alone, for the fake kernel: raise the kernels'
  // error or return. Then the hyperparameter checks alone (for params of
  // dtype), for the reference, which takes tensors of any layout.
  m.def(
      "_rmsprop_clip_check(Tensor[] params, Tensor[] grads, Tensor[] square_avgs, "
      "Tensor[] momentum_buffers, Tensor[] grad_avgs, float lr, float alpha, float eps, "
      "float weight_decay, float momentum, bool centered, bool maximize, float? clip) -> ()");
  m.def(
      "_rmsprop_clip_hyperparameter_check(ScalarType dtype, float lr, float alpha, float eps, "
      "float weight_decay, float momentum, float? clip) -> ()");

  // ConvTranspose2d (groups 1, dilation 1), then BatchNorm2d when normalize
  // (batch statistics when training, else running_mean/var), then the
  // activation (relu, leaky_relu with slope, tanh, none). Returns the output,
  // the convolution's output y kept for the backward (empty when not
  // normalising) and the mean and biased variance used. In training mode the
  // running statistics, when given, move toward the batch's by momentum
  // (BatchNorm2d's update, with the unbiased variance).
  m.def(
      "conv_transpose_bn_act(Tensor input, Tensor weight, Tensor? bias, Tensor? bn_weight, "
      "Tensor? bn_bias, Tensor(a!)? running_mean, Tensor(b!)? running_var, int[2] stride, "
      "int[2] padding, int[2] output_padding, bool normalize, bool training, float eps, "
      "float momentum, str activation, float slope) -> (Tensor out, Tensor y, Tensor mean, "
      "Tensor var)");
  // Gradients for (input, weight, bias) as output_mask asks, and for
  // (bn_weight, bn_bias) when normalising; the rest come back empty.
  m.def(
      "conv_transpose_bn_act_backward(Tensor grad_out, Tensor input, Tensor weight, "
      "Tensor? bn_weight, Tensor out, Tensor y, Tensor mean, Tensor var, int[2] stride, "
      "int[2] padding, int[2] output_padding, bool normalize, bool training, float eps, "
      "str activation, float slope, bool[3] output_mask) -> (Tensor grad_input, "
      "Tensor grad_weight, Tensor grad_bias, Tensor grad_bn_weight, Tensor grad_bn_bias)");
  // The two ops' argument checks alone (their arguments, output_mask aside),
  // for the fake kernels: raise the kernels' error or return.
  m.def(
      "_conv_transpose_bn_act_check(Tensor input, Tensor weight, Tensor? bias, "
      "Tensor? bn_weight, Tensor? bn_bias, Tensor? running_mean, Tensor? running_var, "
      "int[2] stride, int[2] padding, int[2] output_padding, bool normalize, bool training, "
      "float eps, float momentum, str activation, float slope) -> ()");
  m.def(
      "_conv_transpose_bn_act_backward_check(Tensor grad_out, Tensor input, Tensor weight, "
      "Tensor? bn_weight, Tensor out, Tensor y, Tensor mean, Tensor var, int[2] stride, "
      "int[2] padding, int[2] output_padding, bool normalize, bool training, float eps, "
      "str activation, float slope) -> ()");

  // SeqGAN's Monte Carlo rollouts of one LSTM language model (embedding,
  // one torch.nn.LSTM layer, output Linear): for every rollout n, prefix
  // length t = 1..T-1 and sequence b, out[n, t-1, b] is seqs[b, :t] followed
  // by tokens sampled from softmax(logits / temperature), PAD after an EOS.
  // Randomness: Philox4x32-10 keyed by seed, counter (output position,
  // offset), so CPU and CUDA draw the same tokens.
  m.def(
      "rollout(Tensor seqs, Tensor embedding, Tensor w_ih, Tensor w_hh, Tensor b_ih, "
      "Tensor b_hh, Tensor w_out, Tensor b_out, int n_rollouts, float temperature, int seed, "
      "int offset, int start_token, int? eos_token, int pad_token) -> Tensor");
  // Its argument checks alone, for the fake kernel (check_values False: fake
  // tensors have none) and the reference (True: also the token range of seqs).
  m.def(
      "_rollout_check(Tensor seqs, Tensor embedding, Tensor w_ih, Tensor w_hh, Tensor b_ih, "
      "Tensor b_hh, Tensor w_out, Tensor b_out, int n_rollouts, float temperature, int seed, "
      "int offset, int start_token, int? eos_token, int pad_token, bool check_values) -> ()");
}
