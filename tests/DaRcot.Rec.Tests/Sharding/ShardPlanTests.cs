using DaRcot.Rec.Errors;
using DaRcot.Rec.Inference.Sharding;

namespace DaRcot.Rec.Tests.Sharding;

/// <summary>The size-balanced, deterministic assignment every shard computes on its own.</summary>
public sealed class ShardPlanTests
{
    private static ShardItem[] Items(params long[] sizes) => sizes.Select((s, i) => new ShardItem($"img{i:D2}.png", s)).ToArray();

    private static long[] SizesOf(ShardPlan plan, int shard) => plan.Shard(shard).Select(i => i.Size).ToArray();

    [Fact]
    public void Largest_first_to_the_lightest_shard_with_ties_to_the_lowest_index()
    {
        var plan = ShardPlan.Create(Items(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 3);
        // 10→0, 9→1, 8→2, 7→2 (15), 6→1 (15), 5→0 (15), 4→0 (tie at 15: lowest index), 3→1, 2→2, 1→2.
        Assert.Equal([10L, 5, 4], SizesOf(plan, 0));
        Assert.Equal([9L, 6, 3], SizesOf(plan, 1));
        Assert.Equal([8L, 7, 2, 1], SizesOf(plan, 2));
        Assert.Equal([19L, 18, 18], Enumerable.Range(0, 3).Select(plan.Bytes));
    }

    [Fact]
    public void Balanced_by_bytes_not_by_name_or_count()
    {
        // By name (a, b, c, ... round robin) the two large files would land in the same shard of two.
        var items = new[] { new ShardItem("a.png", 1000), new ShardItem("b.png", 10), new ShardItem("c.png", 1000), new ShardItem("d.png", 10) };
        var plan = ShardPlan.Create(items, 2);
        Assert.NotEqual(plan.ShardOf("a.png"), plan.ShardOf("c.png"));
        Assert.Equal(plan.Bytes(0), plan.Bytes(1));

        // Nine small files balance one large one: counts differ, bytes do not.
        var skewed = ShardPlan.Create(new[] { new ShardItem("big.png", 900) }.Concat(Enumerable.Range(0, 9).Select(i => new ShardItem($"s{i}.png", 100))), 2);
        Assert.Equal(900, skewed.Bytes(0));
        Assert.Equal(900, skewed.Bytes(1));
        Assert.Single(skewed.Shard(0));
        Assert.Equal(9, skewed.Shard(1).Count);
    }

    [Fact]
    public void Every_input_lands_in_exactly_one_shard_and_the_imbalance_is_at_most_the_largest_input()
    {
        var random = new Random(7);
        var items = Enumerable.Range(0, 1000).Select(i => new ShardItem($"dir{i % 13}/img{i}.png", random.Next(1, 5_000_000))).ToArray();
        var plan = ShardPlan.Create(items, 7);
        var assigned = Enumerable.Range(0, 7).SelectMany(plan.Shard).Select(i => i.Key).ToList();
        Assert.Equal(items.Length, assigned.Count);
        Assert.Equal(items.Select(i => i.Key).Order(StringComparer.Ordinal), assigned.Order(StringComparer.Ordinal));
        Assert.Equal(items.Sum(i => i.Size), Enumerable.Range(0, 7).Sum(plan.Bytes));
        var loads = Enumerable.Range(0, 7).Select(plan.Bytes).ToArray();
        Assert.True(loads.Max() - loads.Min() <= items.Max(i => i.Size), string.Join(", ", loads));
        foreach (var item in items) Assert.Contains(item, plan.Shard(plan.ShardOf(item.Key)));
    }

    [Fact]
    public void The_plan_depends_only_on_keys_and_sizes_not_on_the_input_order()
    {
        var random = new Random(3);
        // Many equal sizes, so that the key order decides ties.
        var items = Enumerable.Range(0, 200).Select(i => new ShardItem($"f{i}.png", random.Next(1, 6) * 100)).ToArray();
        var reference = ShardPlan.Create(items, 5);
        for (var round = 0; round < 5; round++)
        {
            var shuffled = items.OrderBy(_ => random.Next()).ToArray();
            var plan = ShardPlan.Create(shuffled, 5);
            for (var k = 0; k < 5; k++) Assert.Equal(reference.Shard(k), plan.Shard(k));
        }

        // Equal sizes: key order (ordinal, so "B" < "a"), then the lightest shard, ties to the lowest index.
        var ties = ShardPlan.Create([new ShardItem("b", 1), new ShardItem("a", 1), new ShardItem("B", 1)], 2);
        Assert.Equal(["B", "b"], ties.Shard(0).Select(i => i.Key));
        Assert.Equal(["a"], ties.Shard(1).Select(i => i.Key));
    }

    [Fact]
    public void More_shards_than_inputs_leaves_the_last_shards_empty()
    {
        var plan = ShardPlan.Create(Items(5, 3), 4);
        Assert.Equal([5L], SizesOf(plan, 0));
        Assert.Equal([3L], SizesOf(plan, 1));
        Assert.Empty(plan.Shard(2));
        Assert.Empty(plan.Shard(3));
    }

    [Fact]
    public void Duplicate_keys_negative_sizes_and_no_shards_are_refused()
    {
        Assert.Contains("listed twice", Assert.Throws<ShardingException>(() => ShardPlan.Create([new ShardItem("a", 1), new ShardItem("a", 2)], 2)).Message);
        Assert.Contains("negative size", Assert.Throws<ShardingException>(() => ShardPlan.Create([new ShardItem("a", -1)], 2)).Message);
        Assert.Throws<ShardingException>(() => ShardPlan.Create(Items(1), 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => ShardPlan.Create(Items(1), 2).Shard(2));
    }
}
