using System.Globalization;
using DaRcot.Rec.Errors;

namespace DaRcot.Rec.Inference.Sharding;

/// <summary>
/// Which part of a job this process does: shard <see cref="Index"/> (0-based) of <see cref="Count"/>. Given as
/// <c>K/N</c>, or read from the environment a scheduler sets for each task of an array job
/// (<see cref="FromEnvironment"/>).
/// </summary>
public readonly record struct ShardSpec
{
    /// <summary>Kubernetes Indexed Job: the pod's index, 0 to completions − 1.</summary>
    public const string KubernetesIndexVariable = "JOB_COMPLETION_INDEX";

    /// <summary>The number of shards, set in the Job's pod template: Kubernetes does not expose the completion
    /// count to the pod.</summary>
    public const string ShardCountVariable = "DARCOT_SHARD_COUNT";

    /// <summary>Slurm job array: this task's array index.</summary>
    public const string SlurmTaskIdVariable = "SLURM_ARRAY_TASK_ID";

    /// <summary>Slurm job array: the number of tasks in the array.</summary>
    public const string SlurmTaskCountVariable = "SLURM_ARRAY_TASK_COUNT";

    /// <summary>Slurm job array: the lowest index of the array (shard K is task MIN + K).</summary>
    public const string SlurmTaskMinVariable = "SLURM_ARRAY_TASK_MIN";

    /// <summary>Creates shard <paramref name="index"/> of <paramref name="count"/>.</summary>
    /// <exception cref="ShardingException"><paramref name="count"/> is not positive or <paramref name="index"/> is
    /// outside 0..count − 1.</exception>
    public ShardSpec(int index, int count)
    {
        if (count < 1) throw new ShardingException($"the number of shards must be at least 1, got {count}.");
        if (index < 0 || index >= count) throw new ShardingException($"shard {index} is outside 0..{count - 1} ({count} shards; shards are numbered from 0).");
        Index = index;
        Count = count;
    }

    /// <summary>The shard this process does, 0-based.</summary>
    public int Index { get; }

    /// <summary>How many shards the job has.</summary>
    public int Count { get; }

    /// <summary>The whole job as one shard (0/1).</summary>
    public static ShardSpec Whole => new(0, 1);

    /// <summary>Parses <c>K/N</c> (0-based K, 0 ≤ K &lt; N).</summary>
    /// <exception cref="ShardingException">Not of that form; the message quotes <paramref name="text"/>.</exception>
    public static ShardSpec Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split('/');
        if (parts.Length != 2 || !TryParseCount(parts[0], out var k) || !TryParseCount(parts[1], out var n))
            throw new ShardingException($"--shard must be K/N (shard K of N, 0-based, e.g. 0/4), got '{text}'.");
        if (n < 1 || k >= n) throw new ShardingException($"--shard {text}: K must be in 0..N-1 (shards are numbered from 0), and N at least 1.");
        return new ShardSpec(k, n);
    }

    /// <summary>
    /// The shard an array-job scheduler assigned to this process, or null when none did. Kubernetes Indexed Job:
    /// K = <c>JOB_COMPLETION_INDEX</c>, N = <c>DARCOT_SHARD_COUNT</c> (set it to the Job's <c>completions</c>).
    /// Slurm job array: K = <c>SLURM_ARRAY_TASK_ID</c> − <c>SLURM_ARRAY_TASK_MIN</c>,
    /// N = <c>SLURM_ARRAY_TASK_COUNT</c> (the array must be a contiguous range with step 1, e.g. <c>--array=0-7</c>).
    /// Kubernetes wins when both are set.
    /// </summary>
    /// <param name="getVariable">Reads a variable (default: the process environment); tests pass their own.</param>
    /// <returns>The shard and a short description of where it came from, e.g. <c>JOB_COMPLETION_INDEX=2, DARCOT_SHARD_COUNT=8</c>.</returns>
    /// <exception cref="ShardingException">A variable is missing, not a number, or out of range; the message names it.</exception>
    public static (ShardSpec Spec, string Source)? FromEnvironment(Func<string, string?>? getVariable = null)
    {
        getVariable ??= Environment.GetEnvironmentVariable;
        string? Get(string name) => getVariable(name) is { } v && !string.IsNullOrWhiteSpace(v) ? v.Trim() : null;

        if (Get(KubernetesIndexVariable) is { } index)
        {
            var k = Number(KubernetesIndexVariable, index);
            var countText = Get(ShardCountVariable)
                ?? throw new ShardingException($"{KubernetesIndexVariable} is set (Kubernetes Indexed Job) but {ShardCountVariable} is not; set {ShardCountVariable} in the pod template to the Job's completions, or pass --shard K/N.");
            var n = Number(ShardCountVariable, countText);
            if (n < 1) throw new ShardingException($"{ShardCountVariable}={countText} must be at least 1.");
            if (k >= n) throw new ShardingException($"{KubernetesIndexVariable}={index} is outside 0..{n - 1} ({ShardCountVariable}={countText}); {ShardCountVariable} must equal the Job's completions.");
            return (new ShardSpec(k, n), $"{KubernetesIndexVariable}={index}, {ShardCountVariable}={countText}");
        }

        if (Get(SlurmTaskIdVariable) is { } id)
        {
            var taskId = Number(SlurmTaskIdVariable, id);
            var countText = Get(SlurmTaskCountVariable)
                ?? throw new ShardingException($"{SlurmTaskIdVariable} is set (Slurm job array) but {SlurmTaskCountVariable} is not; pass --shard K/N.");
            var minText = Get(SlurmTaskMinVariable)
                ?? throw new ShardingException($"{SlurmTaskIdVariable} is set (Slurm job array) but {SlurmTaskMinVariable} is not; pass --shard K/N.");
            var n = Number(SlurmTaskCountVariable, countText);
            var min = Number(SlurmTaskMinVariable, minText);
            if (n < 1) throw new ShardingException($"{SlurmTaskCountVariable}={countText} must be at least 1.");
            var k = (long)taskId - min;
            if (k < 0 || k >= n)
                throw new ShardingException($"{SlurmTaskIdVariable}={id} gives shard {k}, outside 0..{n - 1} ({SlurmTaskMinVariable}={minText}, {SlurmTaskCountVariable}={countText}); use a contiguous array with step 1 (e.g. --array=0-{n - 1}), or pass --shard K/N.");
            return (new ShardSpec((int)k, n), $"{SlurmTaskIdVariable}={id}, {SlurmTaskMinVariable}={minText}, {SlurmTaskCountVariable}={countText}");
        }
        return null;
    }

    /// <summary><c>K/N</c>.</summary>
    public override string ToString() => $"{Index}/{Count}";

    private static int Number(string variable, string value) =>
        TryParseCount(value, out var n) ? n : throw new ShardingException($"{variable}='{value}' is not a whole number ≥ 0.");

    private static bool TryParseCount(string text, out int value) =>
        int.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out value);
}
