using System.IO.Compression;
using System.Text.Json;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Files;
using TorchSharp;

namespace DaRcot.Rec.Checkpoints;

/// <summary>
/// Reads the trainer's own checkpoints (<see cref="CheckpointFormat.DaRcotTraining"/>) the way
/// <see cref="CheckpointReader"/> reads others: <c>Inspect</c> says what each entry holds and how large it is, and the
/// containers <c>transport</c> (default) and <c>potential</c> load like any state dict (e.g. <c>darcot restore
/// --weights checkpoint.darcot-train</c>).
/// </summary>
internal static class TrainingCheckpointReader
{
    /// <summary>The containers, default first.</summary>
    public static readonly string[] Containers = ["transport", "potential"];

    /// <summary>Whether the zip at <paramref name="path"/> has the trainer's entries.</summary>
    public static bool IsTrainingCheckpoint(string path)
    {
        try
        {
            using var zip = ZipFile.OpenRead(path);
            return zip.GetEntry("position.json") is not null && zip.GetEntry("transport.bin") is not null;
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    public static Dictionary<string, torch.Tensor> ReadStateDict(string path, string? containerKey)
    {
        var key = containerKey ?? Containers[0];
        if (!Containers.Contains(key))
            throw new CheckpointFormatException(path, $"a training checkpoint has the containers {string.Join(" and ", Containers.Select(c => $"'{c}'"))}, not '{key}'");
        using var zip = Open(path);
        using var bytes = EntryBytes(zip, path, key + ".bin");
        return TorchSharpFormat.Read(bytes, $"{path}:{key}.bin");
    }

    public static CheckpointInfo Inspect(string path)
    {
        using var zip = Open(path);
        var top = new List<CheckpointEntry>();
        var containers = new List<CheckpointContainer>();
        foreach (var entry in zip.Entries)
        {
            top.Add(new CheckpointEntry(entry.FullName, $"{What(entry.FullName, zip, path)}, {ByteSize.Format(entry.Length)}"));
            var container = Containers.FirstOrDefault(c => entry.FullName == c + ".bin");
            if (container is null) continue;
            using var bytes = EntryBytes(zip, path, entry.FullName);
            var tensors = TorchSharpFormat.TryParse(bytes) ?? throw new CheckpointFormatException(path, $"'{entry.FullName}' is not a valid TorchSharp state dict");
            containers.Add(new CheckpointContainer(container, "state_dict", null, tensors.Count, tensors.Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b)),
                tensors.Select(t => new CheckpointTensor(t.Name, t.Shape, RawTensors.Name(t.DType))).ToList()));
        }
        return new CheckpointInfo(path, CheckpointFormat.DaRcotTraining, top, containers, Containers[0]);
    }

    // One line per entry: what it is (for position.json: where the run stands).
    private static string What(string name, ZipArchive zip, string path) => name switch
    {
        "position.json" => Position(zip, path),
        "transport.bin" => "transport network weights (TorchSharp format)",
        "potential.bin" => "potential (critic) weights (TorchSharp format)",
        "transport_optimizer.bin" => "transport optimizer state (e.g. RMSprop square averages: one value per weight)",
        "potential_optimizer.bin" => "potential optimizer state",
        "loss_history.csv" => "loss history (one row per step)",
        "rng_state.bin" => "libtorch global random generator state",
        _ => "entry",
    };

    private static string Position(ZipArchive zip, string path)
    {
        using var bytes = EntryBytes(zip, path, "position.json");
        try
        {
            using var json = JsonDocument.Parse(bytes);
            var root = json.RootElement;
            string Get(string field) => root.TryGetProperty(field, out var v) ? v.ToString() : "?";
            static string Short(string type) => type.Split('.', '+').Last();
            return $"step {Get("step")}, epoch {Get("epoch")}, next batch {Get("next_batch")}; transport {Short(Get("transport_type"))}, potential {Short(Get("potential_type"))}";
        }
        catch (JsonException)
        {
            return "position (unreadable JSON)";
        }
    }

    private static ZipArchive Open(string path)
    {
        try
        {
            return ZipFile.OpenRead(path);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            throw new CheckpointFormatException(path, $"the training checkpoint cannot be opened ({e.Message})", e);
        }
    }

    private static MemoryStream EntryBytes(ZipArchive zip, string path, string name)
    {
        var entry = zip.GetEntry(name) ?? throw new CheckpointFormatException(path, $"the entry '{name}' is missing");
        var ms = new MemoryStream();
        try
        {
            using (var s = entry.Open()) s.CopyTo(ms);
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            ms.Dispose();
            throw new CheckpointFormatException(path, $"the entry '{name}' cannot be read ({e.Message})", e);
        }
        ms.Position = 0;
        return ms;
    }
}
