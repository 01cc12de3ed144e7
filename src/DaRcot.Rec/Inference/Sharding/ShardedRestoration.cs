using System.Diagnostics;
using DaRcot.Rec.Checkpoints;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DaRcot.Rec.Inference.Sharding;

/// <summary>
/// Runs one shard of a restoration job. Every process plans the whole job (<see cref="ShardPlan"/>, by file size) and
/// restores only its own shard, so shards never coordinate. Idempotent and resumable: outputs are written atomically
/// (temporary file, then rename), so an output that exists is complete and is skipped; a re-run after a crash or a
/// kill restores only what is missing. The temporary files a killed run left for this shard's outputs are deleted
/// (only this shard writes those outputs, so no live writer is affected).
/// </summary>
public static class ShardedRestoration
{
    /// <summary>Restores shard <paramref name="spec"/> of <paramref name="jobs"/> and writes its report to
    /// <paramref name="reportPath"/> (also when cancelled, then with <see cref="ShardReport.Finished"/> false).</summary>
    /// <param name="jobs">All inputs of the job (every shard must pass the same list; order does not matter).</param>
    /// <param name="spec">This process's shard.</param>
    /// <param name="loadRestorer">Loads the model; not called when every output of the shard already exists.</param>
    /// <param name="reportPath">Where the JSON report goes.</param>
    /// <param name="root">The folder the keys are relative to, recorded in the report.</param>
    /// <param name="progress">Reports each input of the shard as it is finished (done or failed).</param>
    /// <param name="logger">Logs skipped and removed files at debug level.</param>
    /// <param name="cancellationToken">Stops between images (the current one finishes or is abandoned whole).</param>
    /// <param name="failFast">Throw at the first image that cannot be restored instead of recording it.</param>
    /// <returns>The report, as written.</returns>
    public static ShardReport Run(IReadOnlyList<ShardJob> jobs, ShardSpec spec, Func<Restorer> loadRestorer, string reportPath,
        string? root = null, IProgress<FileProgress>? progress = null, ILogger? logger = null,
        CancellationToken cancellationToken = default, bool failFast = false)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        ArgumentNullException.ThrowIfNull(loadRestorer);
        ArgumentNullException.ThrowIfNull(reportPath);
        logger ??= NullLogger.Instance;
        var clock = Stopwatch.StartNew();
        var byKey = jobs.ToDictionary(j => j.Key, StringComparer.Ordinal);
        var plan = ShardPlan.Create(jobs.Select(j => new ShardItem(j.Key, SizeOf(j.Input))), spec.Count);
        // Processed in key order, so that progress and reports read like the manifest, not like the size ranking.
        var mine = plan.Shard(spec.Index).Select(i => byKey[i.Key]).OrderBy(j => j.Key, StringComparer.Ordinal).ToList();

        // Each output is looked at once: the two lists must not disagree about a file that appears meanwhile.
        var complete = mine.ToLookup(j => File.Exists(j.Output));
        var skipped = complete[true].Select(j => j.Key).ToList();
        var todo = complete[false].ToList();
        var removed = DeleteStaleTemporaryFiles(todo);
        if (removed > 0) logger.LogDebug("Removed {Count} temporary files left by an interrupted run of shard {Shard}", removed, spec);

        var done = new List<string>();
        var failed = new List<ShardFailure>();
        ShardReport Report(bool finished) => new()
        {
            Shard = spec.Index,
            Shards = spec.Count,
            Count = mine.Count,
            Done = done.Count,
            Skipped = skipped.Count,
            Failed = failed,
            Seconds = Math.Round(clock.Elapsed.TotalSeconds, 3),
            ImagesPerSecond = clock.Elapsed.TotalSeconds > 0 ? Math.Round(done.Count / clock.Elapsed.TotalSeconds, 3) : 0,
            Finished = finished,
            DoneInputs = done,
            SkippedInputs = skipped,
            Root = root,
            Host = Environment.MachineName,
        };

        try
        {
            if (todo.Count > 0)
            {
                using var restorer = loadRestorer();
                for (var i = 0; i < todo.Count; i++)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var job = todo[i];
                    // One file at a time through the restorer's own error policy (what is skipped, what is thrown).
                    var failure = restorer.RestoreImageFiles([(job.Input, job.Output)], null, cancellationToken, failFast);
                    if (failure.Count == 0) done.Add(job.Key);
                    else failed.Add(new ShardFailure(job.Key, failure[0].Reason));
                    progress?.Report(new FileProgress(i + 1, todo.Count, job.Input));
                }
            }
        }
        catch (Exception e)
        {
            WriteUnfinished(Report(finished: false), reportPath, logger, e);
            throw;
        }
        var report = Report(finished: true);
        report.Write(reportPath);
        return report;
    }

    // Cancelled, --fail-fast, or the model would not load: the report still says what was done, and that the run
    // did not finish. A report that cannot be written must not hide the original error.
    private static void WriteUnfinished(ShardReport report, string path, ILogger logger, Exception error)
    {
        try
        {
            report.Write(path);
        }
        catch (IOException e)
        {
            logger.LogWarning("Could not write the report of the interrupted shard ({Reason}) after: {Error}", e.Message, error.Message);
        }
    }

    // A missing input counts as 0 bytes in every process alike; it then fails in the shard it lands in.
    private static long SizeOf(string path)
    {
        try
        {
            return new FileInfo(path).Length;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    }

    private static int DeleteStaleTemporaryFiles(IReadOnlyList<ShardJob> todo)
    {
        var removed = 0;
        foreach (var folder in todo.GroupBy(j => Path.GetDirectoryName(Path.GetFullPath(j.Output))!))
        {
            if (!Directory.Exists(folder.Key)) continue;
            var names = folder.Select(j => Path.GetFileName(j.Output)).ToHashSet(StringComparer.Ordinal);
            foreach (var file in Directory.EnumerateFiles(folder.Key, ".*.tmp"))
            {
                if (AtomicFile.TargetOfTemporaryFile(file) is not { } target || !names.Contains(target)) continue;
                try
                {
                    File.Delete(file);
                    removed++;
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
            }
        }
        return removed;
    }
}
