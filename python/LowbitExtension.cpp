//===- LowbitExtension.cpp - Python bindings of lowbit's C API --------------===//
//
// The `lowbit._lowbit` extension: lowbit's C API (lowbit-c/Compiler.h) bound
// with pybind11 from Debian. Debian's MLIR 22 packages do not ship MLIR's
// Python core, so lowbit binds its own C API instead of the dialect through
// MLIR's binding machinery. Errors become Python exceptions with the
// context's message; logits come back as numpy arrays.
//
//===----------------------------------------------------------------------===//

#include "lowbit-c/Compiler.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace py = pybind11;

namespace {

/// Owns a C string the C API returned.
std::string takeString(char *text) {
  std::string result(text);
  lowbitStringDestroy(text);
  return result;
}

/// A context with one module: what a Python `Model` holds.
class Model {
public:
  explicit Model(const std::string &checkpoint)
      : context(lowbitContextCreate(), lowbitContextDestroy),
        module(lowbitModuleImport(context.get(), checkpoint.c_str()),
               lowbitModuleDestroy) {
    if (!module)
      throw std::runtime_error(lastError());
  }

  void runPipeline(const std::string &pipeline) {
    if (!lowbitModuleRunPipeline(module.get(), pipeline.c_str()))
      throw std::runtime_error(lastError());
  }
  std::string ir() const { return takeString(lowbitModuleToString(module.get())); }
  std::string ptx(const std::string &chip) const {
    char *text = lowbitModuleCompilePTX(module.get(), chip.c_str());
    if (!text)
      throw std::runtime_error(lastError());
    return takeString(text);
  }
  std::string roofline(const std::string &options) const {
    char *text = lowbitModuleRoofline(module.get(), options.c_str());
    if (!text)
      throw std::runtime_error(lastError());
    return takeString(text);
  }
  py::array_t<float> run(const std::string &entryPoint,
                         py::array_t<int32_t, py::array::c_style |
                                                  py::array::forcecast>
                             tokens,
                         int64_t start) {
    if (tokens.ndim() != 1)
      throw std::invalid_argument("tokens must be a 1-D array of token ids");
    int64_t count = tokens.shape(0);
    int64_t vocabulary = lowbitModuleGetVocabularySize(module.get());
    py::array_t<float> logits({count, vocabulary});
    if (!lowbitModuleRun(module.get(), entryPoint.c_str(), tokens.data(),
                         static_cast<size_t>(count), start,
                         logits.mutable_data(),
                         static_cast<size_t>(count * vocabulary)))
      throw std::runtime_error(lastError());
    return logits;
  }
  std::vector<int32_t> tokenize(const std::string &text) {
    std::vector<int32_t> ids(text.size() + 1);
    int64_t count = lowbitModuleTokenize(module.get(), text.c_str(),
                                         ids.data(), ids.size());
    if (count < 0)
      throw std::runtime_error(lastError());
    if (static_cast<size_t>(count) > ids.size()) {
      ids.resize(count);
      lowbitModuleTokenize(module.get(), text.c_str(), ids.data(), ids.size());
    }
    ids.resize(count);
    return ids;
  }
  std::string detokenize(const std::vector<int32_t> &ids) {
    char *text = lowbitModuleDetokenize(module.get(), ids.data(), ids.size());
    if (!text)
      throw std::runtime_error(lastError());
    return takeString(text);
  }
  void resetCaches() { lowbitModuleResetCaches(module.get()); }
  int64_t vocabularySize() const {
    return lowbitModuleGetVocabularySize(module.get());
  }
  int64_t contextLength() const {
    return lowbitModuleGetContextLength(module.get());
  }
  int32_t bos() const { return lowbitModuleGetBosToken(module.get()); }
  int32_t eos() const { return lowbitModuleGetEosToken(module.get()); }

private:
  std::string lastError() const {
    return lowbitContextGetLastError(context.get());
  }

  std::unique_ptr<LowbitContext, void (*)(LowbitContext *)> context;
  std::unique_ptr<LowbitModule, void (*)(LowbitModule *)> module;
};

} // namespace

PYBIND11_MODULE(_lowbit, m) {
  m.doc() = "lowbit's C API: import, compile and run Llama checkpoints";
  py::class_<Model>(m, "_Model")
      .def(py::init<const std::string &>(), py::arg("checkpoint"))
      .def("run_pipeline", &Model::runPipeline, py::arg("pipeline"))
      .def("ir", &Model::ir)
      .def("ptx", &Model::ptx, py::arg("chip"))
      .def("roofline", &Model::roofline, py::arg("options"))
      .def("run", &Model::run, py::arg("entry_point"), py::arg("tokens"),
           py::arg("start"))
      .def("tokenize", &Model::tokenize, py::arg("text"))
      .def("detokenize", &Model::detokenize, py::arg("ids"))
      .def("reset_caches", &Model::resetCaches)
      .def_property_readonly("vocabulary_size", &Model::vocabularySize)
      .def_property_readonly("context_length", &Model::contextLength)
      .def_property_readonly("bos", &Model::bos)
      .def_property_readonly("eos", &Model::eos);
}
