namespace DaRcot.Rec.Inference.Sharding;

/// <summary>
/// The reports of a sharded job taken together: totals, the inputs that failed, and what no report accounts for
/// (inputs of the manifest that no shard restored, skipped or failed; shards without a report; shards that were
/// cancelled). Reports from runs with another number of shards may sit in the same folder: an input counts as complete
/// when any report has it done or skipped.
/// </summary>
public sealed record ShardReportSummary
{
    /// <summary>How many reports were merged.</summary>
    public required int Reports { get; init; }

    /// <summary>Inputs assigned over all reports.</summary>
    public required int Inputs { get; init; }

    /// <summary>Inputs restored, over all reports.</summary>
    public required int Done { get; init; }

    /// <summary>Inputs skipped as already complete, over all reports.</summary>
    public required int Skipped { get; init; }

    /// <summary>Inputs that failed and that no report has as done or skipped.</summary>
    public required IReadOnlyList<ShardFailure> Failed { get; init; }

    /// <summary>Inputs of the manifest no report mentions (empty without a manifest).</summary>
    public required IReadOnlyList<string> Missing { get; init; }

    /// <summary>Shards (<c>K/N</c>) of the job(s) seen without a report.</summary>
    public required IReadOnlyList<ShardSpec> MissingShards { get; init; }

    /// <summary>Shards whose run was cancelled before it finished.</summary>
    public required IReadOnlyList<ShardSpec> Unfinished { get; init; }

    /// <summary>The different shard counts N among the reports (more than one: reports of several runs).</summary>
    public required IReadOnlyList<int> ShardCounts { get; init; }

    /// <summary>Seconds over all shards, added up.</summary>
    public required double TotalSeconds { get; init; }

    /// <summary>The longest shard's seconds (the job's wall time when all shards ran at once).</summary>
    public required double LongestSeconds { get; init; }

    /// <summary>
    /// Whether the job is complete: nothing failed, and every input is accounted for: with a manifest, each of its
    /// inputs is in a report; without one, every shard has a finished report.
    /// </summary>
    public required bool Complete { get; init; }

    /// <summary>Merges <paramref name="reports"/>; <paramref name="manifestKeys"/> are the inputs the job should
    /// cover (null when no manifest was given).</summary>
    public static ShardReportSummary Merge(IReadOnlyList<ShardReport> reports, IEnumerable<string>? manifestKeys = null)
    {
        ArgumentNullException.ThrowIfNull(reports);
        var complete = new HashSet<string>(StringComparer.Ordinal);
        foreach (var r in reports)
        {
            complete.UnionWith(r.DoneInputs);
            complete.UnionWith(r.SkippedInputs);
        }
        // A failure that a later run (e.g. with another shard count) completed is no longer a failure.
        var failed = reports.SelectMany(r => r.Failed).Where(f => !complete.Contains(f.Input))
            .DistinctBy(f => f.Input, StringComparer.Ordinal).OrderBy(f => f.Input, StringComparer.Ordinal).ToList();
        var mentioned = new HashSet<string>(complete, StringComparer.Ordinal);
        mentioned.UnionWith(failed.Select(f => f.Input));
        var missing = manifestKeys?.Where(k => !mentioned.Contains(k)).ToList() ?? [];

        var counts = reports.Select(r => r.Shards).Distinct().Order().ToList();
        var present = reports.Select(r => (r.Shard, r.Shards)).ToHashSet();
        var missingShards = counts.SelectMany(n => Enumerable.Range(0, n).Where(k => !present.Contains((k, n))).Select(k => new ShardSpec(k, n))).ToList();
        var unfinished = reports.Where(r => !r.Finished || r.Done + r.Skipped + r.Failed.Count < r.Count)
            .Select(r => new ShardSpec(r.Shard, r.Shards)).Distinct().ToList();
        var accounted = manifestKeys is not null ? missing.Count == 0 : reports.Count > 0 && missingShards.Count == 0 && unfinished.Count == 0;

        return new ShardReportSummary
        {
            Reports = reports.Count,
            Inputs = reports.Sum(r => r.Count),
            Done = reports.Sum(r => r.Done),
            Skipped = reports.Sum(r => r.Skipped),
            Failed = failed,
            Missing = missing,
            MissingShards = missingShards,
            Unfinished = unfinished,
            ShardCounts = counts,
            TotalSeconds = reports.Sum(r => r.Seconds),
            LongestSeconds = reports.Count == 0 ? 0 : reports.Max(r => r.Seconds),
            Complete = failed.Count == 0 && accounted,
        };
    }
}
