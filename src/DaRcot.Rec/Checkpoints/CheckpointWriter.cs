using TorchSharp;

namespace DaRcot.Rec.Checkpoints;

/// <summary>Saves state dicts of our own models (trainer checkpoints, converted weights).</summary>
public static class CheckpointWriter
{
    /// <summary>
    /// Writes <paramref name="tensors"/> atomically: <c>.safetensors</c> by extension, otherwise TorchSharp's own
    /// format (readable by <c>Module.load</c> and by <see cref="CheckpointReader"/>).
    /// </summary>
    public static void SaveStateDict(string path, IReadOnlyDictionary<string, torch.Tensor> tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
            SafetensorsFile.Write(path, tensors);
        else
            AtomicFile.Write(path, s => TorchSharpFormat.Write(s, tensors));
    }
}
