using System.Text.Json;
using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Errors;

namespace DaRcot.Rec.Inference.Sharding;

/// <summary>An input a shard could not restore.</summary>
/// <param name="Input">The input's key (path relative to the manifest's or input folder).</param>
/// <param name="Reason">Why (the error message).</param>
public sealed record ShardFailure(string Input, string Reason);

/// <summary>
/// What one shard of a sharded restoration did, written as JSON to <c>OUTPUT/reports/shard-K-of-N.json</c>
/// (atomically, at the end of the run or when it is cancelled). A re-run of the shard replaces it: its inputs are
/// then done or skipped (already complete). <see cref="ShardReportSummary"/> merges the reports of a job.
/// </summary>
public sealed record ShardReport
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
    };

    /// <summary>This shard's index K (0-based).</summary>
    public required int Shard { get; init; }

    /// <summary>The number of shards N of the job.</summary>
    public required int Shards { get; init; }

    /// <summary>How many inputs were assigned to this shard.</summary>
    public required int Count { get; init; }

    /// <summary>How many were restored by this run.</summary>
    public required int Done { get; init; }

    /// <summary>How many already had their output (complete: outputs are written atomically) and were skipped.</summary>
    public required int Skipped { get; init; }

    /// <summary>The inputs that could not be restored, with the reason.</summary>
    public required IReadOnlyList<ShardFailure> Failed { get; init; }

    /// <summary>Wall-clock time of this run, model loading included.</summary>
    public required double Seconds { get; init; }

    /// <summary><see cref="Done"/> per second of <see cref="Seconds"/>.</summary>
    public required double ImagesPerSecond { get; init; }

    /// <summary>False when the run was cancelled: inputs not in any list were not reached.</summary>
    public required bool Finished { get; init; }

    /// <summary>The keys of the inputs restored by this run.</summary>
    public required IReadOnlyList<string> DoneInputs { get; init; }

    /// <summary>The keys of the inputs skipped because their output already existed.</summary>
    public required IReadOnlyList<string> SkippedInputs { get; init; }

    /// <summary>The folder the keys are relative to (manifest's or input folder), as this shard saw it.</summary>
    public string? Root { get; init; }

    /// <summary>The machine that ran the shard.</summary>
    public string? Host { get; init; }

    /// <summary>The report's file name for <paramref name="spec"/>: <c>shard-K-of-N.json</c>.</summary>
    public static string FileName(ShardSpec spec) => $"shard-{spec.Index}-of-{spec.Count}.json";

    /// <summary>Writes the report to <paramref name="path"/> atomically (readers never see half a report).</summary>
    public void Write(string path) => AtomicFile.Write(path, stream => JsonSerializer.Serialize(stream, this, Json));

    /// <summary>Reads a report written by <see cref="Write"/>.</summary>
    /// <exception cref="ShardingException">The file is not a shard report; the message names it.</exception>
    public static ShardReport Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        try
        {
            using var stream = File.OpenRead(path);
            var report = JsonSerializer.Deserialize<ShardReport>(stream, Json) ?? throw new JsonException("the file holds null.");
            if (report.Shards < 1 || report.Shard < 0 || report.Shard >= report.Shards)
                throw new JsonException($"shard {report.Shard} of {report.Shards} is not a valid shard.");
            return report;
        }
        catch (JsonException e)
        {
            throw new ShardingException($"'{path}' is not a shard report: {e.Message}");
        }
    }
}
