using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Errors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DaRcot.Rec.Training;

/// <summary>Where a training run stands: what a checkpoint records besides the weights and optimizer states.</summary>
public sealed record TrainingPosition
{
    /// <summary>Format version of the checkpoint.</summary>
    [JsonPropertyName("format_version")] public int FormatVersion { get; init; } = TrainingCheckpoint.FormatVersion;

    /// <summary>Global steps completed.</summary>
    [JsonPropertyName("step")] public long Step { get; init; }

    /// <summary>1-based epoch of the next step.</summary>
    [JsonPropertyName("epoch")] public int Epoch { get; init; } = 1;

    /// <summary>0-based index, within <see cref="Epoch"/>, of the next batch (the data position).</summary>
    [JsonPropertyName("next_batch")] public int NextBatch { get; init; }

    /// <summary>Nominal batch size B of the run (0 until known), used for ⌊pairnum / B⌋.</summary>
    [JsonPropertyName("nominal_batch_size")] public int NominalBatchSize { get; init; }

    /// <summary>The trainer seed (the only trainer-side randomness, GP α, is derived from it and the step).</summary>
    [JsonPropertyName("seed")] public long Seed { get; init; }

    /// <summary>CLR type of the transport network.</summary>
    [JsonPropertyName("transport_type")] public string TransportType { get; init; } = "";

    /// <summary>CLR type of the potential.</summary>
    [JsonPropertyName("potential_type")] public string PotentialType { get; init; } = "";

    /// <summary>The trainer options the run used.</summary>
    [JsonPropertyName("options")] public OtTrainerOptions? Options { get; init; }

    /// <summary>The caller's whole run configuration (e.g. the CLI's CONFIG.json), kept verbatim.</summary>
    [JsonPropertyName("run_config")] public JsonNode? RunConfig { get; init; }
}

/// <summary>
/// The trainer's checkpoint: one zip file (stored, not compressed) with <c>position.json</c>,
/// <c>transport.bin</c> and <c>potential.bin</c> (TorchSharp module format), the two optimizer states
/// (<c>transport_optimizer.bin</c>, <c>potential_optimizer.bin</c>, so RMSprop's square averages survive a resume)
/// and <c>loss_history.csv</c>. Written to a temporary file and renamed, so a crash never leaves a broken checkpoint.
/// </summary>
public static class TrainingCheckpoint
{
    /// <summary>Current format version.</summary>
    public const int FormatVersion = 1;

    /// <summary>Default file name inside the output folder.</summary>
    public const string DefaultFileName = "checkpoint.darcot-train";

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>Writes a checkpoint atomically.</summary>
    public static void Write(string path, TrainingPosition position, nn.Module transport, nn.Module potential,
        OptimizerHelper transportOptimizer, OptimizerHelper potentialOptimizer, LossHistory history)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(position);
        AtomicFile.Write(path, stream =>
        {
            using var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
            Entry(zip, "position.json", s => JsonSerializer.Serialize(s, position, Json));
            Entry(zip, "transport.bin", s => Binary(s, w => transport.save(w)));
            Entry(zip, "potential.bin", s => Binary(s, w => potential.save(w)));
            Entry(zip, "transport_optimizer.bin", s => Binary(s, transportOptimizer.save_state_dict));
            Entry(zip, "potential_optimizer.bin", s => Binary(s, potentialOptimizer.save_state_dict));
            Entry(zip, "loss_history.csv", s =>
            {
                using var tw = new StreamWriter(s, leaveOpen: true);
                tw.Write(history.ToCsv());
            });
        });
    }

    /// <summary>Reads only the position record (no weights).</summary>
    /// <exception cref="CheckpointFormatException">Not a trainer checkpoint or unreadable.</exception>
    public static TrainingPosition ReadPosition(string path)
    {
        using var zip = Open(path);
        return ReadPositionEntry(zip, path);
    }

    /// <summary>Loads weights, optimizer states and history into the given objects and returns the position.</summary>
    /// <exception cref="CheckpointFormatException">Not a trainer checkpoint, unreadable, or the weights do not fit.</exception>
    public static TrainingPosition Read(string path, nn.Module transport, nn.Module potential,
        OptimizerHelper transportOptimizer, OptimizerHelper potentialOptimizer, out LossHistory history)
    {
        using var zip = Open(path);
        var position = ReadPositionEntry(zip, path);
        try
        {
            using (var r = new BinaryReader(Bytes(zip, path, "transport.bin"))) transport.load(r, strict: true);
            using (var r = new BinaryReader(Bytes(zip, path, "potential.bin"))) potential.load(r, strict: true);
            using (var r = new BinaryReader(Bytes(zip, path, "transport_optimizer.bin"))) transportOptimizer.load_state_dict(r);
            using (var r = new BinaryReader(Bytes(zip, path, "potential_optimizer.bin"))) potentialOptimizer.load_state_dict(r);
            using var sr = new StreamReader(Bytes(zip, path, "loss_history.csv"));
            history = LossHistory.ParseCsv(sr.ReadToEnd());
        }
        catch (Exception e) when (e is not DaRcotException)
        {
            throw new CheckpointFormatException(path, $"its weights or optimizer states do not fit the networks being trained ({e.Message}).", e);
        }
        return position;
    }

    private static ZipArchive Open(string path)
    {
        if (!File.Exists(path)) throw new CheckpointFormatException(path, "the file does not exist.");
        try
        {
            return ZipFile.OpenRead(path);
        }
        catch (InvalidDataException e)
        {
            throw new CheckpointFormatException(path, "not a DaRcot training checkpoint (not a zip archive).", e);
        }
    }

    private static TrainingPosition ReadPositionEntry(ZipArchive zip, string path)
    {
        using var s = Bytes(zip, path, "position.json");
        TrainingPosition? p;
        try
        {
            p = JsonSerializer.Deserialize<TrainingPosition>(s, Json);
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException(path, $"position.json is not valid ({e.Message}).", e);
        }
        if (p is null) throw new CheckpointFormatException(path, "position.json is empty.");
        if (p.FormatVersion != FormatVersion)
            throw new CheckpointFormatException(path, $"format version {p.FormatVersion} is not supported (expected {FormatVersion}).");
        return p;
    }

    private static MemoryStream Bytes(ZipArchive zip, string path, string name)
    {
        var entry = zip.GetEntry(name) ?? throw new CheckpointFormatException(path, $"the entry '{name}' is missing.");
        var ms = new MemoryStream();
        using (var s = entry.Open()) s.CopyTo(ms);
        ms.Position = 0;
        return ms;
    }

    private static void Entry(ZipArchive zip, string name, Action<Stream> write)
    {
        var entry = zip.CreateEntry(name, CompressionLevel.NoCompression);
        using var s = entry.Open();
        write(s);
    }

    private static void Binary(Stream s, Action<BinaryWriter> write)
    {
        // TorchSharp writers may seek; buffer first, then copy into the (forward-only) zip entry.
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true)) write(w);
        ms.Position = 0;
        ms.CopyTo(s);
    }
}
