namespace DaRcot.Rec.Checkpoints;

/// <summary>The on-disk format of a checkpoint, detected from its content (not its extension).</summary>
public enum CheckpointFormat
{
    /// <summary>torch.save since PyTorch 1.6: a zip holding <c>data.pkl</c> and one record per storage.</summary>
    PyTorchZip,
    /// <summary>torch.save before PyTorch 1.6 (or <c>_use_new_zipfile_serialization=False</c>): pickles then raw storages.</summary>
    PyTorchLegacy,
    /// <summary>A bare pickle without tensor storages.</summary>
    Pickle,
    /// <summary>Hugging Face safetensors: a JSON header and raw little-endian tensor data.</summary>
    Safetensors,
    /// <summary>TorchSharp's own format written by <c>Module.save</c>.</summary>
    TorchSharp,
    /// <summary>A checkpoint of this library's trainer (<c>checkpoint.darcot-train</c>): a zip with the position, both
    /// networks (containers <c>transport</c>, the default, and <c>potential</c>), their optimizer states and the history.</summary>
    DaRcotTraining,
}

/// <summary>What a checkpoint holds, as reported by <see cref="CheckpointReader.Inspect"/>.</summary>
/// <param name="Path">The file.</param>
/// <param name="Format">Its detected format.</param>
/// <param name="TopLevel">The top-level entries: for a dict, one per key; otherwise one entry describing the whole object.</param>
/// <param name="Containers">Every place that holds a state dict or a pickled module (key null = the top level itself).</param>
/// <param name="DefaultContainer">The container <see cref="CheckpointReader.ReadStateDict"/> picks when none is named, or null when
/// the top level is used (or nothing usable exists).</param>
public sealed record CheckpointInfo(
    string Path,
    CheckpointFormat Format,
    IReadOnlyList<CheckpointEntry> TopLevel,
    IReadOnlyList<CheckpointContainer> Containers,
    string? DefaultContainer);

/// <summary>One top-level entry of a checkpoint.</summary>
/// <param name="Key">The key (or "(root)" when the file holds a single object).</param>
/// <param name="Kind">A short description: "int 3", "state_dict (238 tensors)", "module model_res.MRCNet", "dict (2 keys)", ...</param>
public sealed record CheckpointEntry(string Key, string Kind);

/// <summary>A state dict found in a checkpoint, directly or recovered from a pickled module.</summary>
/// <param name="Key">The top-level key holding it, or null for the top level itself.</param>
/// <param name="Kind">"state_dict" or "module".</param>
/// <param name="ModuleClass">For a pickled module, its class as <c>module.Class</c>; otherwise null.</param>
/// <param name="TensorCount">Number of state-dict entries.</param>
/// <param name="ParameterCount">Sum of elements of the distinct state-dict tensors — parameters and persistent buffers,
/// as in the state dict — where a tensor shared under several names counts once (like <c>parameters()</c>).</param>
/// <param name="Tensors">Every entry in state-dict order.</param>
public sealed record CheckpointContainer(
    string? Key,
    string Kind,
    string? ModuleClass,
    int TensorCount,
    long ParameterCount,
    IReadOnlyList<CheckpointTensor> Tensors);

/// <summary>One state-dict entry.</summary>
/// <param name="Name">The state-dict key.</param>
/// <param name="Shape">Its shape.</param>
/// <param name="DType">PyTorch's dtype name ("float32", ...).</param>
public sealed record CheckpointTensor(string Name, IReadOnlyList<long> Shape, string DType);
