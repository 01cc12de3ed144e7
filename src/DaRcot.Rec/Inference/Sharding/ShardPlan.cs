using DaRcot.Rec.Errors;

namespace DaRcot.Rec.Inference.Sharding;

/// <summary>One input of a sharded job: a key naming it the same way in every process (e.g. its path relative to
/// the manifest's folder) and its size in bytes.</summary>
/// <param name="Key">Unique within the job; compared ordinally.</param>
/// <param name="Size">Size in bytes (a missing file counts as 0, consistently in every process).</param>
public sealed record ShardItem(string Key, long Size);

/// <summary>
/// Splits a job's inputs into shards of about equal total size, the same way in every process so that shards need
/// not talk to each other: the inputs are sorted by size (largest first, then key, ordinal) and each is given to the
/// shard with the fewest bytes so far (ties: the lowest shard index). Balancing by bytes rather than by count keeps
/// a shard that happens to draw the large images from finishing long after the others.
/// </summary>
public sealed class ShardPlan
{
    private readonly IReadOnlyList<ShardItem>[] _shards;
    private readonly long[] _bytes;
    private readonly Dictionary<string, int> _shardOf;

    private ShardPlan(IReadOnlyList<ShardItem>[] shards, long[] bytes, Dictionary<string, int> shardOf)
    {
        _shards = shards;
        _bytes = bytes;
        _shardOf = shardOf;
    }

    /// <summary>The number of shards.</summary>
    public int Count => _shards.Length;

    /// <summary>Plans <paramref name="items"/> over <paramref name="shardCount"/> shards. The result depends only on
    /// the keys and sizes, not on the order of <paramref name="items"/>.</summary>
    /// <exception cref="ShardingException">A key appears twice, a size is negative, or
    /// <paramref name="shardCount"/> is below 1.</exception>
    public static ShardPlan Create(IEnumerable<ShardItem> items, int shardCount)
    {
        ArgumentNullException.ThrowIfNull(items);
        if (shardCount < 1) throw new ShardingException($"the number of shards must be at least 1, got {shardCount}.");
        var sorted = items.ToList();
        var shardOf = new Dictionary<string, int>(sorted.Count, StringComparer.Ordinal);
        foreach (var item in sorted)
        {
            if (item.Size < 0) throw new ShardingException($"'{item.Key}' has a negative size ({item.Size}).");
            if (!shardOf.TryAdd(item.Key, -1)) throw new ShardingException($"'{item.Key}' is listed twice.");
        }
        sorted.Sort((a, b) => a.Size != b.Size ? b.Size.CompareTo(a.Size) : string.CompareOrdinal(a.Key, b.Key));

        // Least-loaded shard first; the index as second key makes ties go to the lowest shard, deterministically.
        var queue = new PriorityQueue<int, (long Bytes, int Index)>(shardCount);
        for (var k = 0; k < shardCount; k++) queue.Enqueue(k, (0, k));
        var lists = Enumerable.Range(0, shardCount).Select(_ => new List<ShardItem>()).ToArray();
        var bytes = new long[shardCount];
        foreach (var item in sorted)
        {
            var k = queue.Dequeue();
            lists[k].Add(item);
            bytes[k] += item.Size;
            shardOf[item.Key] = k;
            queue.Enqueue(k, (bytes[k], k));
        }
        return new ShardPlan(lists.Select(l => (IReadOnlyList<ShardItem>)l.AsReadOnly()).ToArray(), bytes, shardOf);
    }

    /// <summary>The inputs of shard <paramref name="index"/>, largest first (the order they were assigned in).</summary>
    public IReadOnlyList<ShardItem> Shard(int index) => _shards[CheckIndex(index)];

    /// <summary>The total size of shard <paramref name="index"/>'s inputs, in bytes.</summary>
    public long Bytes(int index) => _bytes[CheckIndex(index)];

    /// <summary>The shard that <paramref name="key"/> was assigned to.</summary>
    /// <exception cref="KeyNotFoundException">The key is not part of the plan.</exception>
    public int ShardOf(string key) => _shardOf.TryGetValue(key, out var k) ? k : throw new KeyNotFoundException($"'{key}' is not part of the plan.");

    private int CheckIndex(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, _shards.Length);
        return index;
    }
}
