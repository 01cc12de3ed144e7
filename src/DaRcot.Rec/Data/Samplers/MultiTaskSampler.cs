using DaRcot.Rec.Data.Datasets;
using DaRcot.Rec.Errors;

namespace DaRcot.Rec.Data.Samplers;

/// <summary>How a <see cref="MultiTaskSampler"/> chooses the items of an epoch.</summary>
public enum SamplingMode
{
    /// <summary>Official: passes over all items (with the official repeats if the list has them), each in a fresh shuffled
    /// order (an epoch of exactly the item count is one pass, as the official DataLoader).</summary>
    ShuffledEpoch = 0,

    /// <summary>Each draw picks a task by its weight, then an item of that task uniformly (with replacement).</summary>
    Weighted = 1,
}

/// <summary>One sample of an epoch: the source of the degraded image and the source of the target.</summary>
/// <param name="ItemIndex">Index of the item whose (degraded) input is used.</param>
/// <param name="TargetItemIndex">Index of the item whose clean image is the target: the same item when paired; in
/// unpaired mode, an item of the same task with a different clean image.</param>
/// <param name="TaskId">The item's task id.</param>
public readonly record struct SampleDraw(int ItemIndex, int TargetItemIndex, int TaskId);

/// <summary>
/// Mixed multi-task sampling with per-sample task ids, configurable task weights and an unpaired option; every draw is
/// a pure function of (seed, epoch, index), so it does not depend on threads or on earlier draws.
/// </summary>
public sealed class MultiTaskSampler
{
    private readonly int[][] _itemsByTask;
    private readonly int[] _tasks;
    private readonly double[] _cumulative;
    private readonly Dictionary<int, string[]> _distinctTargets = new();
    private readonly Dictionary<string, int> _firstItemOfTarget = new(StringComparer.Ordinal);
    private readonly object _gate = new();
    private (int Epoch, long Pass, int[] Order)? _permutation;

    /// <summary>Creates the sampler.</summary>
    /// <param name="items">The training items.</param>
    /// <param name="mode">Shuffled passes (official) or weighted draws.</param>
    /// <param name="taskWeights">Relative task weights for <see cref="SamplingMode.Weighted"/> (task id → weight);
    /// null = proportional to the items per task (what uniform draws from the concatenated official list give).
    /// Tasks absent from the dictionary get weight 0.</param>
    /// <param name="seed">Base seed.</param>
    /// <param name="unpaired">Draw the target from a different clean image of the same task (really unpaired data;
    /// note that the official "unpaired" mode keeps the pairs and only drops the paired loss terms, spec §5.1).</param>
    /// <exception cref="DaRcotException">No items, a weighted task without items, or unpaired sampling of a task with
    /// fewer than two distinct clean images.</exception>
    public MultiTaskSampler(IReadOnlyList<TrainingItem> items, SamplingMode mode = SamplingMode.ShuffledEpoch,
        IReadOnlyDictionary<int, double>? taskWeights = null, long seed = 0, bool unpaired = false)
    {
        ArgumentNullException.ThrowIfNull(items);
        if (items.Count == 0) throw new DaRcotException("The training set is empty.");
        Items = items;
        Mode = mode;
        Seed = seed;
        Unpaired = unpaired;
        var groups = items.Select((item, i) => (item, i)).GroupBy(t => t.item.TaskId).OrderBy(g => g.Key).ToArray();
        var weights = new Dictionary<int, double>();
        foreach (var g in groups)
            weights[g.Key] = taskWeights is null ? g.Count() : taskWeights.TryGetValue(g.Key, out var w) ? w : 0;
        if (taskWeights is not null)
            foreach (var (task, w) in taskWeights)
            {
                if (!(w >= 0) || !double.IsFinite(w)) throw new DaRcotException($"Task weight for task {task} is {w}; weights must be finite and >= 0.");
                if (w > 0 && !weights.ContainsKey(task)) throw new DaRcotException($"Task {task} has weight {w} but no training items.");
            }
        double total = weights.Values.Sum();
        if (!(total > 0)) throw new DaRcotException("All task weights are zero.");
        _tasks = groups.Select(g => g.Key).ToArray();
        _itemsByTask = groups.Select(g => g.Select(t => t.i).ToArray()).ToArray();
        _cumulative = new double[_tasks.Length];
        double acc = 0;
        for (int t = 0; t < _tasks.Length; t++) { acc += weights[_tasks[t]] / total; _cumulative[t] = acc; }
        TaskWeights = _tasks.ToDictionary(t => t, t => weights[t] / total);

        for (int i = 0; i < items.Count; i++) _firstItemOfTarget.TryAdd(items[i].TargetPath, i);
        if (unpaired)
            foreach (var g in groups)
            {
                var distinct = g.Select(t => t.item.TargetPath).Distinct(StringComparer.Ordinal).OrderBy(p => p, StringComparer.Ordinal).ToArray();
                if (distinct.Length < 2 && TaskWeights[g.Key] > 0)
                    throw new DaRcotException($"Unpaired sampling needs at least two different clean images per task; task {g.Key} has {distinct.Length}.");
                _distinctTargets[g.Key] = distinct;
            }
    }

    /// <summary>The items.</summary>
    public IReadOnlyList<TrainingItem> Items { get; }

    /// <summary>The sampling mode.</summary>
    public SamplingMode Mode { get; }

    /// <summary>Base seed.</summary>
    public long Seed { get; }

    /// <summary>Whether targets come from different images.</summary>
    public bool Unpaired { get; }

    /// <summary>Normalised task weights (sum 1) used by <see cref="SamplingMode.Weighted"/>.</summary>
    public IReadOnlyDictionary<int, double> TaskWeights { get; }

    /// <summary>The draw at position <paramref name="index"/> of <paramref name="epoch"/>.</summary>
    public SampleDraw Draw(int epoch, long index)
    {
        var random = SampleSeed.CreateRandom(Seed, epoch, index, stream: 1);
        int item;
        if (Mode == SamplingMode.Weighted)
        {
            double u = random.NextDouble();
            int t = Array.FindIndex(_cumulative, c => u < c);
            if (t < 0) t = _tasks.Length - 1;
            while (TaskWeights[_tasks[t]] == 0) t--; // u == 1 − ε with trailing zero weights
            item = _itemsByTask[t][random.Next(_itemsByTask[t].Length)];
        }
        else
        {
            // Epochs longer than the item list make several passes, each with its own order.
            var order = Permutation(epoch, index / Items.Count);
            item = order[(int)(index % Items.Count)];
        }
        int taskId = Items[item].TaskId;
        int target = item;
        if (Unpaired)
        {
            // A different clean image of the same task, uniformly among the others: the pair never shares a source.
            var distinct = _distinctTargets[taskId];
            int own = Array.BinarySearch(distinct, Items[item].TargetPath, StringComparer.Ordinal);
            int pick = random.Next(distinct.Length - 1);
            if (pick >= own) pick++;
            target = _firstItemOfTarget[distinct[pick]];
        }
        return new SampleDraw(item, target, taskId);
    }

    private int[] Permutation(int epoch, long pass)
    {
        lock (_gate)
        {
            if (_permutation is { } p && p.Epoch == epoch && p.Pass == pass) return p.Order;
            var order = Enumerable.Range(0, Items.Count).ToArray();
            var random = SampleSeed.CreateRandom(Seed, epoch, -1 - pass, stream: 0);
            for (int i = order.Length - 1; i > 0; i--)
            {
                int j = random.Next(i + 1);
                (order[i], order[j]) = (order[j], order[i]);
            }
            _permutation = (epoch, pass, order);
            return order;
        }
    }
}
