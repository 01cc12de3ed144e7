using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Benchmarks;

/// <summary>Settings every suite shares, so numbers from different suites are comparable.</summary>
public static class BenchSetup
{
    /// <summary>Intra-op threads for libtorch: DARCOT_BENCH_THREADS, else every core (2 on the reference machine).
    /// Set once per suite in [GlobalSetup]; libtorch would otherwise pick its own count, which may differ by build.</summary>
    public static int Threads { get; } =
        int.TryParse(Environment.GetEnvironmentVariable("DARCOT_BENCH_THREADS"), out var n) && n > 0 ? n : Environment.ProcessorCount;

    /// <summary>Applies the thread count and a fixed seed (the same random weights and inputs on every run).</summary>
    public static void Init()
    {
        set_num_threads(Threads);
        manual_seed(0);
    }

    /// <summary>A registered architecture with its official constructor arguments, in eval mode.</summary>
    public static nn.Module<Tensor, Tensor> CreateModel(string arch, string? configJson)
    {
        nn.Module<Tensor, Tensor> model;
        using (no_grad()) model = DaRcot.Rec.Models.ModelFactory.Create(arch, configJson).Model;
        model.eval();
        return model;
    }

    /// <summary>A random 1×3×size×size image in channels-last memory, as <c>Restorer</c> hands images to a network
    /// (<c>RestorerOptions.ChannelsLast</c>).</summary>
    public static Tensor RestorerInput(int size)
    {
        using var drawn = rand(1, 3, size, size);
        return DaRcot.Rec.Imaging.MemoryLayout.ToChannelsLast(drawn).alias();
    }
}

/// <summary>
/// A short job for whole-network forward passes (tens of milliseconds to seconds each): one launch, one warm-up,
/// five measured iterations (BenchmarkDotNet's pilot picks the calls per iteration: one for the slow networks).
/// In-process, because a separate benchmark process would mean another full build of the project graph for little
/// gain in isolation on a 2-core machine. The median is shown next to the mean: on a shared machine a single
/// preempted iteration moves the mean a lot and the median little.
/// </summary>
public sealed class ModelJobConfig : ManualConfig
{
    public ModelJobConfig()
    {
        AddJob(Job.Default.WithId("Short")
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithLaunchCount(1).WithWarmupCount(1).WithIterationCount(5));
        AddColumn(StatisticColumn.Median, StatisticColumn.Min);
    }
}

/// <summary>A short job for millisecond-scale operations: BenchmarkDotNet picks how many calls make one iteration.</summary>
public sealed class OpJobConfig : ManualConfig
{
    public OpJobConfig()
    {
        AddJob(Job.Default.WithId("Short")
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithLaunchCount(1).WithWarmupCount(2).WithIterationCount(5));
        AddColumn(StatisticColumn.Median, StatisticColumn.Min);
    }
}
