using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Profiling;

/// <summary>A measured matrix-multiply rate (float32 unless measured for bfloat16): the practical peak a network's GFLOP/s can be compared with.</summary>
/// <param name="GigaFlopsPerSecond">2·n³ / (fastest repetition), in 10⁹ FLOP/s.</param>
/// <param name="Size">n of the n×n·n×n product.</param>
/// <param name="Repetitions">Timed repetitions (after one untimed warm-up).</param>
/// <param name="BestMilliseconds">The fastest repetition.</param>
public sealed record MatmulPeakResult(double GigaFlopsPerSecond, int Size, int Repetitions, double BestMilliseconds);

/// <summary>
/// Measures the rate of one large float32 <c>matmul</c> at the current libtorch thread count: what this machine's
/// BLAS achieves on the most favourable dense kernel, so achieved/peak says how much of the machine a network uses.
/// </summary>
public static class MatmulPeak
{
    /// <summary>Times n×n·n×n float32 products on <paramref name="device"/> (default CPU) for about
    /// <paramref name="budget"/> (default 0.4 s; at least 2 and at most 50 repetitions) and keeps the fastest: the
    /// best repetition is the one least disturbed by other work on a shared machine.</summary>
    /// <param name="device">Where to multiply; CUDA work is synchronised before each clock read.</param>
    /// <param name="size">n (default 1024: 2.1 GFLOP per product, ~10–100 ms on one to a few CPU cores).</param>
    /// <param name="budget">Time to spend after the warm-up.</param>
    /// <param name="dtype">Element type of the product (default float32; bfloat16 for the peak of mixed precision).</param>
    public static MatmulPeakResult Measure(Device? device = null, int size = 1024, TimeSpan? budget = null, ScalarType dtype = ScalarType.Float32)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        device ??= CPU;
        var limit = budget ?? TimeSpan.FromSeconds(0.4);
        using var generator = new Generator(0);
        using var a = Random(size, generator, device, dtype);
        using var b = Random(size, generator, device, dtype);
        Multiply(a, b, device);
        var best = double.MaxValue;
        var repetitions = 0;
        var total = Stopwatch.StartNew();
        while (repetitions < 2 || (repetitions < 50 && total.Elapsed < limit))
        {
            var watch = Stopwatch.StartNew();
            Multiply(a, b, device);
            best = Math.Min(best, watch.Elapsed.TotalMilliseconds);
            repetitions++;
        }
        double flops = 2.0 * size * size * size;
        return new MatmulPeakResult(flops / (best / 1000.0) / 1e9, size, repetitions, best);
    }

    // Drawn on the CPU (the generator is a CPU one), then moved; the CPU copy is freed at once.
    private static Tensor Random(int size, Generator generator, Device device, ScalarType dtype)
    {
        var cpu = rand(new long[] { size, size }, generator: generator);
        if (dtype != ScalarType.Float32)
        {
            var converted = cpu.to(dtype);
            cpu.Dispose();
            cpu = converted;
        }
        if (device.type == DeviceType.CPU) return cpu;
        using (cpu) return cpu.to(device);
    }

    private static void Multiply(Tensor a, Tensor b, Device device)
    {
        using var c = a.matmul(b);
        if (device.type == DeviceType.CUDA) cuda.synchronize();
    }
}
