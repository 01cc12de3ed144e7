using DaRcot.Rec.Errors;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Checkpoints;

/// <summary>The outcome of loading a state dict into a module.</summary>
/// <param name="Missing">Keys of the module that the state dict lacks.</param>
/// <param name="Unexpected">Keys of the state dict that the module lacks.</param>
/// <param name="ShapeMismatches">"key: model [..] vs checkpoint [..]" for keys present on both sides with different shapes.</param>
/// <param name="Loaded">Number of module entries that were copied.</param>
public sealed record StateDictReport(IReadOnlyList<string> Missing, IReadOnlyList<string> Unexpected, IReadOnlyList<string> ShapeMismatches, int Loaded)
{
    /// <summary>True when every key matched on both sides with the same shape.</summary>
    public bool IsExact => Missing.Count == 0 && Unexpected.Count == 0 && ShapeMismatches.Count == 0;
}

/// <summary>Copies state dicts into TorchSharp modules by name, like PyTorch's <c>load_state_dict</c>.</summary>
public static class StateDictLoader
{
    /// <summary>
    /// Copies each tensor of <paramref name="stateDict"/> into the module entry of the same name (under no_grad;
    /// the dtype and device are converted to the module's). Every registration path of a shared submodule is a key.
    /// </summary>
    /// <param name="module">The target module.</param>
    /// <param name="stateDict">name → tensor.</param>
    /// <param name="strict">When true, any missing key, unexpected key or shape difference raises
    /// <see cref="StateDictMismatchException"/> and nothing is loaded. When false, what matches is loaded.</param>
    /// <param name="source">Where the state dict came from, for the error message.</param>
    /// <returns>What was loaded and what did not match.</returns>
    public static StateDictReport LoadInto(nn.Module module, IReadOnlyDictionary<string, Tensor> stateDict, bool strict = true, string source = "state dict")
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(stateDict);
        var targets = TargetEntries(module);
        var missing = new List<string>();
        var shapes = new List<string>();
        var matches = new List<(Tensor Target, Tensor Source)>();
        foreach (var (name, target) in targets)
        {
            if (!stateDict.TryGetValue(name, out var src)) { missing.Add(name); continue; }
            if (!target.shape.SequenceEqual(src.shape))
            {
                shapes.Add($"{name}: model [{string.Join(", ", target.shape)}] vs checkpoint [{string.Join(", ", src.shape)}]");
                continue;
            }
            matches.Add((target, src));
        }
        var unexpected = stateDict.Keys.Where(k => !targets.ContainsKey(k)).ToList();
        if (strict && (missing.Count > 0 || unexpected.Count > 0 || shapes.Count > 0))
            throw new StateDictMismatchException(source, missing, unexpected, shapes);
        using (no_grad())
        {
            foreach (var (target, src) in matches) target.copy_(src);
        }
        return new StateDictReport(missing, unexpected, shapes, matches.Count);
    }

    /// <summary>Reads <paramref name="path"/> with <see cref="CheckpointReader.ReadStateDict"/> and loads it into <paramref name="module"/>.</summary>
    /// <exception cref="CheckpointFormatException">The file cannot be read.</exception>
    /// <exception cref="StateDictMismatchException">Strict loading found differences.</exception>
    public static StateDictReport LoadFile(nn.Module module, string path, string? containerKey = null, bool strict = true)
    {
        var sd = CheckpointReader.ReadStateDict(path, containerKey);
        try
        {
            return LoadInto(module, sd, strict, containerKey is null ? path : $"{path} [{containerKey}]");
        }
        finally
        {
            foreach (var t in sd.Values.Distinct(ReferenceEqualityComparer.Instance).Cast<Tensor>()) t.Dispose();
        }
    }

    // module.state_dict() plus every path a shared child is reachable under: TorchSharp may list a tensor once
    // even when its module is registered twice, but PyTorch checkpoints hold one key per path.
    private static Dictionary<string, Tensor> TargetEntries(nn.Module module)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (k, v) in module.state_dict()) result[k] = v;
        Walk(module, "", result, 0);
        return result;
    }

    // Only parameters are aliased: none of our modules shares a child that holds buffers.
    private static void Walk(nn.Module m, string prefix, Dictionary<string, Tensor> into, int depth)
    {
        if (depth > 256) return;
        foreach (var (name, p) in m.named_parameters(recurse: false))
            into.TryAdd(prefix + name, p);
        foreach (var (name, child) in m.named_children())
            Walk(child, prefix + name + ".", into, depth + 1);
    }
}
