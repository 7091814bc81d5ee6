//===- LowbitExtension.cpp - Python bindings of lowbit's C API --------------===//
//
// The `lowbit._lowbit` extension: lowbit's C APIs (lowbit-c/Compiler.h and
// the runtime's lowbit-c/Runtime.h) bound with pybind11 from Debian. Debian's MLIR 22 packages do not ship MLIR's
// Python core, so lowbit binds its own C API instead of the dialect through
// MLIR's binding machinery. Errors become Python exceptions with the
// context's message; logits come back as numpy arrays.
//
//===----------------------------------------------------------------------===//

#include "lowbit-c/Compiler.h"
#include "lowbit-c/Runtime.h"

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

/// Token ids as numpy gives them.
using TokenArray =
    py::array_t<int32_t, py::array::c_style | py::array::forcecast>;

/// An empty [tokens, vocabulary] logits array for `tokens` (1-D).
py::array_t<float> makeLogits(const TokenArray &tokens, int64_t vocabulary) {
  if (tokens.ndim() != 1)
    throw std::invalid_argument("tokens must be a 1-D array of token ids");
  return py::array_t<float>({static_cast<int64_t>(tokens.shape(0)), vocabulary});
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
  py::bytes artifact(const std::string &target, const std::string &cpu) const {
    size_t size = 0;
    char *bytes = lowbitModuleCompileArtifact(
        module.get(), target.c_str(), cpu.empty() ? nullptr : cpu.c_str(),
        &size);
    if (!bytes)
      throw std::runtime_error(lastError());
    py::bytes result(bytes, size);
    lowbitStringDestroy(bytes);
    return result;
  }
  std::string roofline(const std::string &options) const {
    char *text = lowbitModuleRoofline(module.get(), options.c_str());
    if (!text)
      throw std::runtime_error(lastError());
    return takeString(text);
  }
  py::array_t<float> run(const std::string &entryPoint, TokenArray tokens,
                         int64_t start) {
    int64_t vocabulary = lowbitModuleGetVocabularySize(module.get());
    py::array_t<float> logits = makeLogits(tokens, vocabulary);
    int64_t count = tokens.shape(0);
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

/// A model artifact loaded by the runtime: what a Python `CompiledModel`
/// holds.
class CompiledModel {
public:
  explicit CompiledModel(const std::string &path)
      : model(nullptr, lowbitModelDestroy) {
    char error[512];
    model.reset(lowbitModelOpen(path.c_str(), error, sizeof error));
    if (!model)
      throw std::runtime_error(error);
  }

  py::array_t<float> run(const std::string &entryPoint, TokenArray tokens,
                         int64_t start) {
    py::array_t<float> logits =
        makeLogits(tokens, lowbitModelGetVocabularySize(model.get()));
    int64_t count = tokens.shape(0);
    bool ran;
    if (entryPoint == "prefill")
      ran = lowbitModelPrefill(model.get(), tokens.data(), count, start,
                               logits.mutable_data());
    else if (entryPoint == "decode" && count == 1)
      ran = lowbitModelDecode(model.get(), tokens.data()[0], start,
                              logits.mutable_data());
    else
      throw std::invalid_argument(
          "entry_point is 'prefill', or 'decode' with one token");
    if (!ran)
      throw std::runtime_error(lowbitModelGetLastError(model.get()));
    return logits;
  }
  void resetCaches() { lowbitModelResetCaches(model.get()); }
  py::object metadata(const std::string &key) const {
    const char *value = lowbitModelGetMetadata(model.get(), key.c_str());
    return value ? py::object(py::str(value)) : py::object(py::none());
  }
  int64_t vocabularySize() const {
    return lowbitModelGetVocabularySize(model.get());
  }
  int64_t contextLength() const {
    return lowbitModelGetContextLength(model.get());
  }

private:
  std::unique_ptr<LowbitModel, void (*)(LowbitModel *)> model;
};

} // namespace

PYBIND11_MODULE(_lowbit, m) {
  m.doc() = "lowbit's C API: import, compile and run Llama checkpoints";
  py::class_<Model>(m, "_Model")
      .def(py::init<const std::string &>(), py::arg("checkpoint"))
      .def("run_pipeline", &Model::runPipeline, py::arg("pipeline"))
      .def("ir", &Model::ir)
      .def("ptx", &Model::ptx, py::arg("chip"))
      .def("artifact", &Model::artifact, py::arg("target"), py::arg("cpu"))
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
  py::class_<CompiledModel>(m, "_CompiledModel")
      .def(py::init<const std::string &>(), py::arg("path"))
      .def("run", &CompiledModel::run, py::arg("entry_point"),
           py::arg("tokens"), py::arg("start"))
      .def("reset_caches", &CompiledModel::resetCaches)
      .def("metadata", &CompiledModel::metadata, py::arg("key"))
      .def_property_readonly("vocabulary_size", &CompiledModel::vocabularySize)
      .def_property_readonly("context_length", &CompiledModel::contextLength);
}
