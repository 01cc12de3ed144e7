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
/// (<c>transport_optimizer.bin</c>, <c>potential_optimizer.bin</c>, so RMSprop's square averages survive a resume),
/// <c>loss_history.csv</c> and <c>rng_state.bin</c> (libtorch's global generator). Written to a temporary file and renamed, so a crash never leaves a broken checkpoint.
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
            Entry(zip, RngStateEntry, s => s.Write(GlobalRngState()));
        });
    }

    /// <summary>The entry holding libtorch's global CPU generator state (dropout and any other draw without an
    /// explicit generator), so a resumed run continues the same random stream.</summary>
    private const string RngStateEntry = "rng_state.bin";

    private static byte[] GlobalRngState()
    {
        using var state = torch.get_rng_state();
        return state.data<byte>().ToArray();
    }

    /// <summary>Reads only the position record (no weights).</summary>
    /// <exception cref="CheckpointFormatException">Not a trainer checkpoint or unreadable.</exception>
    public static TrainingPosition ReadPosition(string path)
    {
        using var zip = Open(path);
        return ReadPositionEntry(zip, path);
    }

    /// <summary>Loads weights, optimizer states and history into the given objects and returns the position.</summary>
    /// <remarks>All or nothing: every entry is read and the position and history are parsed before anything is
    /// touched; the four states are then applied, and if one of them does not fit (another network, a damaged
    /// entry) the ones already applied are put back, so a failed resume leaves the trainer exactly as it was.</remarks>
    /// <exception cref="CheckpointFormatException">Not a trainer checkpoint, unreadable, or the weights do not fit.</exception>
    public static TrainingPosition Read(string path, nn.Module transport, nn.Module potential,
        OptimizerHelper transportOptimizer, OptimizerHelper potentialOptimizer, out LossHistory history)
    {
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(potential);
        ArgumentNullException.ThrowIfNull(transportOptimizer);
        ArgumentNullException.ThrowIfNull(potentialOptimizer);

        // Phase 1: read and validate everything into temporaries; the live objects are not touched.
        TrainingPosition position;
        MemoryStream transportBytes, potentialBytes, transportOptBytes, potentialOptBytes;
        LossHistory parsedHistory;
        byte[]? rngState;
        using (var zip = Open(path))
        {
            position = ReadPositionEntry(zip, path);
            transportBytes = Bytes(zip, path, "transport.bin");
            potentialBytes = Bytes(zip, path, "potential.bin");
            transportOptBytes = Bytes(zip, path, "transport_optimizer.bin");
            potentialOptBytes = Bytes(zip, path, "potential_optimizer.bin");
            // Absent from checkpoints written before it was added: those resume with the generator as it is.
            rngState = null;
            if (zip.GetEntry(RngStateEntry) is not null)
            {
                using var rng = Bytes(zip, path, RngStateEntry);
                rngState = rng.ToArray();
            }
            using var csv = Bytes(zip, path, "loss_history.csv");
            using var sr = new StreamReader(csv);
            try
            {
                parsedHistory = LossHistory.ParseCsv(sr.ReadToEnd());
            }
            catch (DaRcotException e)
            {
                throw new CheckpointFormatException(path, $"loss_history.csv is not valid ({e.Message}).", e);
            }
        }

        // Phase 2: apply, remembering each state first so a failure can put everything back.
        using var undo = new UndoLog();
        try
        {
            undo.Apply(w => transport.save(w), r => transport.load(r, strict: true), transportBytes);
            undo.Apply(w => potential.save(w), r => potential.load(r, strict: true), potentialBytes);
            undo.Apply(transportOptimizer.save_state_dict, transportOptimizer.load_state_dict, transportOptBytes);
            undo.Apply(potentialOptimizer.save_state_dict, potentialOptimizer.load_state_dict, potentialOptBytes);
            undo.Commit();
        }
        catch (Exception e) when (e is not DaRcotException)
        {
            undo.Rollback();
            throw new CheckpointFormatException(path, $"its weights or optimizer states do not fit the networks being trained ({e.Message}); nothing was loaded.", e);
        }
        if (rngState is not null)
        {
            using var state = torch.tensor(rngState, dtype: ScalarType.Byte);
            torch.set_rng_state(state);
        }
        history = parsedHistory;
        return position;
    }

    /// <summary>Applies states one by one and can restore the ones already applied (in reverse order).</summary>
    private sealed class UndoLog : IDisposable
    {
        private readonly List<(MemoryStream Saved, Action<BinaryReader> Load)> applied = new();
        private readonly List<MemoryStream> owned = new();

        public void Apply(Action<BinaryWriter> save, Action<BinaryReader> load, MemoryStream incoming)
        {
            owned.Add(incoming);
            var saved = new MemoryStream();
            owned.Add(saved);
            using (var w = new BinaryWriter(saved, System.Text.Encoding.UTF8, leaveOpen: true)) save(w);
            saved.Position = 0;
            applied.Add((saved, load));
            using var r = new BinaryReader(incoming, System.Text.Encoding.UTF8, leaveOpen: true);
            load(r);
        }

        public void Commit() => applied.Clear();

        public void Rollback()
        {
            // Restoring a state saved from the same object a moment ago cannot fail to fit.
            for (var i = applied.Count - 1; i >= 0; i--)
            {
                var (saved, load) = applied[i];
                saved.Position = 0;
                using var r = new BinaryReader(saved, System.Text.Encoding.UTF8, leaveOpen: true);
                load(r);
            }
            applied.Clear();
        }

        public void Dispose()
        {
            foreach (var m in owned) m.Dispose();
        }
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
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Locked by another process, permissions, a device error: still a typed error that names the file.
            throw new CheckpointFormatException(path, $"the file cannot be opened ({e.Message}).", e);
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
        try
        {
            using (var s = entry.Open()) s.CopyTo(ms);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            ms.Dispose();
            throw new CheckpointFormatException(path, $"the entry '{name}' cannot be read ({e.Message}).", e);
        }
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
