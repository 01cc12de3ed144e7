using System.Globalization;
using DaRcot.Rec.Checkpoints.Pickle;
using DaRcot.Rec.Errors;
using TorchSharp;

namespace DaRcot.Rec.Checkpoints;

/// <summary>
/// Reads state dicts from PyTorch checkpoints (zip and legacy formats, plain state dicts and whole pickled
/// modules), safetensors and TorchSharp files, without Python and without executing anything from a pickle.
/// </summary>
public static class CheckpointReader
{
    /// <summary>Container keys tried, in order, when the top level is not itself a state dict.</summary>
    public static IReadOnlyList<string> DefaultContainerKeys { get; } = new[] { "params", "params_ema", "state_dict", "model", "net", "Tnet" };

    /// <summary>
    /// Reads the state dict of <paramref name="path"/> as name → new CPU tensor (dtype as stored), in the file's order.
    /// </summary>
    /// <param name="path">A .pth/.pt/.ckpt (PyTorch zip or legacy), .safetensors or TorchSharp file; the format is
    /// detected from the content.</param>
    /// <param name="containerKey">The top-level key holding the state dict (e.g. "params", "state_dict", "Tnet", "Fnet").
    /// null picks automatically: the top level when it is already name → tensor, else the first present of
    /// <see cref="DefaultContainerKeys"/>. A pickled nn.Module is turned into the state dict torch's
    /// <c>state_dict()</c> would give. Flat formats (safetensors, TorchSharp) have no containers: a key selects the
    /// entries prefixed "key." when there are any and is otherwise ignored.</param>
    /// <returns>The tensors; a leading "module." is stripped when every key has it. Names that share one tensor in
    /// the file (e.g. a module registered twice) map to the same <see cref="torch.Tensor"/> object.</returns>
    /// <exception cref="CheckpointFormatException">The file cannot be read (names the file and the reason), or the
    /// container is unknown (lists the available keys).</exception>
    /// <exception cref="UnsafePickleException">The pickle references a global outside the allow-list.</exception>
    public static Dictionary<string, torch.Tensor> ReadStateDict(string path, string? containerKey = null)
    {
        try
        {
            return ReadStateDictCore(path, containerKey);
        }
        catch (ModuleTreeTooDeepException e)
        {
            throw new CheckpointFormatException(path, e.Message, e);
        }
    }

    private static Dictionary<string, torch.Tensor> ReadStateDictCore(string path, string? containerKey)
    {
        var format = DetectFormat(path);
        Dictionary<string, torch.Tensor> result;
        switch (format)
        {
            case CheckpointFormat.Safetensors:
                result = SelectFlat(path, SafetensorsFile.Read(path), containerKey);
                break;
            case CheckpointFormat.TorchSharp:
                result = SelectFlat(path, TorchSharpFormat.Read(path), containerKey);
                break;
            case CheckpointFormat.DaRcotTraining:
                return TrainingCheckpointReader.ReadStateDict(path, containerKey);
            default:
            {
                using var file = TorchPickleFile.Open(path, format);
                var (_, entries) = SelectContainer(path, file.Root, containerKey);
                result = new Dictionary<string, torch.Tensor>(StringComparer.Ordinal);
                var byData = new Dictionary<string, torch.Tensor>(StringComparer.Ordinal);
                try
                {
                    foreach (var (name, stub) in entries)
                    {
                        if (!byData.TryGetValue(stub.DataIdentity, out var t))
                        {
                            t = file.Materialize(stub);
                            byData[stub.DataIdentity] = t;
                        }
                        result[name] = t;
                    }
                }
                catch
                {
                    foreach (var t in byData.Values) t.Dispose();
                    throw;
                }
                break;
            }
        }
        return StripModulePrefix(result);
    }

    /// <summary>Describes a checkpoint without loading tensor data: format, top-level keys, containers and tensors.</summary>
    /// <exception cref="CheckpointFormatException">The file cannot be read.</exception>
    /// <exception cref="UnsafePickleException">The pickle references a global outside the allow-list.</exception>
    public static CheckpointInfo Inspect(string path)
    {
        try
        {
            return InspectCore(path);
        }
        catch (ModuleTreeTooDeepException e)
        {
            throw new CheckpointFormatException(path, e.Message, e);
        }
    }

    private static CheckpointInfo InspectCore(string path)
    {
        var format = DetectFormat(path);
        switch (format)
        {
            case CheckpointFormat.Safetensors:
            {
                var header = SafetensorsFile.ReadHeader(path);
                var tensors = header.Entries.Select(e => new CheckpointTensor(e.Name, e.Shape, RawTensors.Name(e.DType))).ToList();
                return FlatInfo(path, format, tensors);
            }
            case CheckpointFormat.DaRcotTraining:
                return TrainingCheckpointReader.Inspect(path);
            case CheckpointFormat.TorchSharp:
            {
                using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
                var entries = TorchSharpFormat.TryParse(stream) ?? throw new CheckpointFormatException(path, "not a valid TorchSharp state-dict file");
                return FlatInfo(path, format, entries.Select(e => new CheckpointTensor(e.Name, e.Shape, RawTensors.Name(e.DType))).ToList());
            }
            default:
            {
                using var file = TorchPickleFile.Open(path, format);
                var root = file.Root;
                var top = new List<CheckpointEntry>();
                var containers = new List<CheckpointContainer>();
                var rootEntries = AsStateDict(root, requireNonEmpty: true);
                if (rootEntries is not null)
                {
                    top.Add(new CheckpointEntry("(root)", DescribeValue(root)));
                    containers.Add(Container(null, root, rootEntries));
                }
                else if (root is PickleDict dict)
                {
                    foreach (var (k, v) in dict.Entries)
                    {
                        var key = KeyText(k);
                        top.Add(new CheckpointEntry(key, DescribeValue(v)));
                        var sd = AsStateDict(v, requireNonEmpty: false);
                        if (sd is not null) containers.Add(Container(key, v, sd));
                    }
                }
                else top.Add(new CheckpointEntry("(root)", DescribeValue(root)));
                string? defaultKey = null;
                if (rootEntries is null && root is PickleDict d2)
                    defaultKey = DefaultContainerKeys.FirstOrDefault(k => d2.TryGet(k, out var v) && AsStateDict(v, false) is not null);
                return new CheckpointInfo(path, format, top, containers, defaultKey);
            }
        }
    }

    /// <summary>Detects the format of <paramref name="path"/> from its content.</summary>
    /// <exception cref="CheckpointFormatException">Missing, empty or unrecognised file.</exception>
    public static CheckpointFormat DetectFormat(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        // A FIFO would block the open and a device never ends: check the final target's type first.
        Files.RegularFile.Require(path, reason => new CheckpointFormatException(path, "the path " + reason.TrimEnd('.')));
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new CheckpointFormatException(path, "the file does not exist", e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new CheckpointFormatException(path, "permission denied", e);
        }
        using (stream)
        {
            if (stream.Length == 0) throw new CheckpointFormatException(path, "the file is empty");
            var head = new byte[(int)Math.Min(64, stream.Length)];
            stream.ReadExactly(head);
            if (head.Length >= 4 && head[0] == (byte)'P' && head[1] == (byte)'K' && (head[2] is 3 or 5) && (head[3] is 4 or 6))
                return TrainingCheckpointReader.IsTrainingCheckpoint(path) ? CheckpointFormat.DaRcotTraining : CheckpointFormat.PyTorchZip;
            if (TorchPickleFile.IsLegacy(head)) return CheckpointFormat.PyTorchLegacy;
            if (SafetensorsFile.LooksLike(head, stream.Length)) return CheckpointFormat.Safetensors;
            // TorchSharp files have no magic number; a full structural parse decides (cheap: data is skipped).
            if (TorchSharpFormat.TryParse(stream) is not null) return CheckpointFormat.TorchSharp;
            if (head[0] == 0x80 && head.Length > 1 && head[1] is >= 2 and <= 5) return CheckpointFormat.Pickle;
        }
        throw new CheckpointFormatException(path,
            "unrecognised format (expected a PyTorch .pth zip or legacy file, .safetensors, or a TorchSharp state dict); is it truncated or not a checkpoint?");
    }

    // ---- container selection -------------------------------------------------------------------------------

    internal static (string? Key, List<(string Name, TensorStub Stub)> Entries) SelectContainer(string path, object? root, string? containerKey)
    {
        if (containerKey is not null)
        {
            if (root is not PickleDict dict)
                throw new CheckpointFormatException(path, $"container key '{containerKey}' was requested but the checkpoint's top level is {PickleMachine.Describe(root)}, not a dict");
            if (!dict.TryGet(containerKey, out var value))
                throw new CheckpointFormatException(path, $"the checkpoint has no key '{containerKey}'; available keys: {AvailableKeys(dict)}");
            var sd = AsStateDict(value, requireNonEmpty: false)
                     ?? throw new CheckpointFormatException(path, $"key '{containerKey}' holds {DescribeValue(value)}, not a state dict or module; available keys: {AvailableKeys(dict)}");
            return (containerKey, sd);
        }
        var top = AsStateDict(root, requireNonEmpty: true);
        if (top is not null) return (null, top);
        if (root is PickleDict d)
        {
            foreach (var key in DefaultContainerKeys)
                if (d.TryGet(key, out var v) && AsStateDict(v, requireNonEmpty: false) is { } sd)
                    return (key, sd);
            throw new CheckpointFormatException(path,
                $"no state dict found: the top level is not name→tensor and none of {string.Join(", ", DefaultContainerKeys)} holds one; available keys: {AvailableKeys(d)} (name one as the container key)");
        }
        throw new CheckpointFormatException(path, $"no state dict found: the checkpoint holds {DescribeValue(root)}");
    }

    /// <summary>A state dict as (name, tensor) pairs, from a name→tensor dict or a pickled nn.Module; else null.</summary>
    private static List<(string, TensorStub)>? AsStateDict(object? value, bool requireNonEmpty)
    {
        switch (value)
        {
            case PickleDict dict:
            {
                if (requireNonEmpty && dict.Count == 0) return null;
                var list = new List<(string, TensorStub)>(dict.Count);
                foreach (var (k, v) in dict.Entries)
                {
                    if (k is not string name || v is not TensorStub t) return null;
                    list.Add((name, t));
                }
                return list;
            }
            case PickleObject obj when IsModule(obj):
            {
                var list = new List<(string, TensorStub)>();
                WalkModule(obj, "", list, 0);
                return list;
            }
            default:
                return null;
        }
    }

    private static bool IsModule(PickleObject obj) =>
        obj.StateDict is { } s && s.TryGet("_parameters", out _) && s.TryGet("_modules", out _);

    // Mirrors torch.nn.Module.state_dict(): own parameters (None skipped), then persistent buffers, then each child
    // in registration order with prefix "child.". A child registered under several names appears under each.
    private static void WalkModule(PickleObject module, string prefix, List<(string, TensorStub)> into, int depth)
    {
        // Memoised pickles can make a module its own descendant; real networks are never this deep.
        if (depth > 256) throw new ModuleTreeTooDeepException();
        var state = module.StateDict!;
        if (state.GetOrNull("_parameters") is PickleDict ps)
            foreach (var (k, v) in ps.Entries)
                if (k is string name && v is TensorStub t) into.Add((prefix + name, t));
        var nonPersistent = (state.GetOrNull("_non_persistent_buffers_set") as PickleSet)?.Items.OfType<string>().ToHashSet(StringComparer.Ordinal)
                            ?? new HashSet<string>(StringComparer.Ordinal);
        if (state.GetOrNull("_buffers") is PickleDict bs)
            foreach (var (k, v) in bs.Entries)
                if (k is string name && v is TensorStub t && !nonPersistent.Contains(name)) into.Add((prefix + name, t));
        if (state.GetOrNull("_modules") is PickleDict ms)
            foreach (var (k, v) in ms.Entries)
                if (k is string name && v is PickleObject child && child.StateDict is not null)
                    WalkModule(child, prefix + name + ".", into, depth + 1);
    }

    private sealed class ModuleTreeTooDeepException : Exception
    {
        public ModuleTreeTooDeepException() : base("module nesting is deeper than 256 levels (cyclic module tree?)") { }
    }

    private static Dictionary<string, torch.Tensor> SelectFlat(string path, Dictionary<string, torch.Tensor> all, string? containerKey)
    {
        if (containerKey is null) return all;
        var prefix = containerKey + ".";
        if (!all.Keys.Any(k => k.StartsWith(prefix, StringComparison.Ordinal))) return all;
        var result = new Dictionary<string, torch.Tensor>(StringComparer.Ordinal);
        foreach (var (k, v) in all)
        {
            if (k.StartsWith(prefix, StringComparison.Ordinal)) result[k[prefix.Length..]] = v;
            else v.Dispose();
        }
        return result;
    }

    private static Dictionary<string, torch.Tensor> StripModulePrefix(Dictionary<string, torch.Tensor> sd)
    {
        const string prefix = "module.";
        if (sd.Count == 0 || !sd.Keys.All(k => k.StartsWith(prefix, StringComparison.Ordinal))) return sd;
        var stripped = new Dictionary<string, torch.Tensor>(sd.Count, StringComparer.Ordinal);
        foreach (var (k, v) in sd) stripped[k[prefix.Length..]] = v;
        return stripped;
    }

    // ---- descriptions ----------------------------------------------------------------------------------------

    private static CheckpointInfo FlatInfo(string path, CheckpointFormat format, List<CheckpointTensor> tensors)
    {
        long count = tensors.Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b));
        var container = new CheckpointContainer(null, "state_dict", null, tensors.Count, count, tensors);
        return new CheckpointInfo(path, format, new[] { new CheckpointEntry("(root)", $"state_dict ({tensors.Count} tensors)") }, new[] { container }, null);
    }

    private static CheckpointContainer Container(string? key, object? value, List<(string Name, TensorStub Stub)> entries)
    {
        bool stripped = entries.Count > 0 && entries.All(e => e.Name.StartsWith("module.", StringComparison.Ordinal));
        var tensors = entries.Select(e => new CheckpointTensor(stripped ? e.Name["module.".Length..] : e.Name, e.Stub.Size, RawTensors.Name(e.Stub.DType))).ToList();
        long count = entries.GroupBy(e => e.Stub.DataIdentity).Sum(g => g.First().Stub.Numel);
        return value is PickleObject obj
            ? new CheckpointContainer(key, "module", obj.Type.FullName, tensors.Count, count, tensors)
            : new CheckpointContainer(key, "state_dict", null, tensors.Count, count, tensors);
    }

    private static string AvailableKeys(PickleDict dict) =>
        dict.Count == 0 ? "(none)" : string.Join(", ", dict.Entries.Select(e => $"'{KeyText(e.Key)}' ({ShortKind(e.Value)})"));

    private static string KeyText(object? key) => key switch
    {
        null => "None",
        string s => s,
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => PickleMachine.Describe(key),
    };

    private static string ShortKind(object? v) => v switch
    {
        PickleObject o => IsModule(o) ? $"module {o.Type.FullName}" : o.Type.FullName,
        PickleDict d => AsStateDict(d, true) is not null ? "state_dict" : "dict",
        _ => PickleMachine.Describe(v),
    };

    private static string DescribeValue(object? v) => v switch
    {
        null => "None",
        bool b => b ? "bool True" : "bool False",
        long l => $"int {l}",
        System.Numerics.BigInteger bi => $"int {bi}",
        double d => $"float {d.ToString("R", CultureInfo.InvariantCulture)}",
        string s => $"str '{(s.Length > 40 ? s[..40] + "..." : s)}'",
        byte[] bytes => $"bytes ({bytes.Length})",
        TensorStub t => $"tensor [{string.Join(", ", t.Size)}] {RawTensors.Name(t.DType)}",
        PickleObject o when IsModule(o) => $"module {o.Type.FullName} ({AsStateDict(o, false)!.Count} tensors)",
        PickleObject o => $"object {o.Type.FullName}",
        PickleDict d when AsStateDict(d, true) is { } sd => $"state_dict ({sd.Count} tensors)",
        PickleDict d => $"dict ({d.Count} keys)",
        List<object?> l => $"list ({l.Count} items)",
        PickleTuple t => $"tuple ({t.Count} items)",
        PickleSet s => $"set ({s.Items.Count} items)",
        _ => PickleMachine.Describe(v),
    };
}
