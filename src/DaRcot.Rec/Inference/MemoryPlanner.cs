using System.Globalization;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Files;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Inference;

/// <summary>How a restoration will run within its memory budget (<see cref="Restorer.Plan"/>).</summary>
/// <param name="TileSize">The tile side, or null for one pass over the whole image.</param>
/// <param name="Automatic">True when the tile was chosen to fit the budget (no <see cref="RestorerOptions.TileSize"/>).</param>
/// <param name="BudgetBytes">The budget planned against.</param>
/// <param name="EstimatedBytes">The estimated peak of this restoration (buffers plus the network's working memory).</param>
/// <param name="WorkingBytesPerPixel">The network's working memory per input pixel used for the estimate (0 when the
/// image was small enough not to need it).</param>
public sealed record RestorePlan(int? TileSize, bool Automatic, long BudgetBytes, long EstimatedBytes, long WorkingBytesPerPixel);

/// <summary>
/// The memory arithmetic behind <see cref="RestorePlan"/>: what the image buffers take, what the network needs per
/// pixel (measured once per restorer on a small probe), and the budget's default.
/// </summary>
internal static class MemoryPlanner
{
    /// <summary>Working memory per pixel assumed without measuring: above every network we ship (DA-RCOT measures
    /// about 16 KB), so an image that fits at this rate fits for certain and needs no probe.</summary>
    public const long UnmeasuredBytesPerPixel = 64 * 1024;

    /// <summary>Used where the probe cannot read the process's peak memory (not Linux).</summary>
    public const long FallbackBytesPerPixel = 32 * 1024;

    /// <summary>Side of the probe image (rounded up to the architecture's size multiple).</summary>
    public const int ProbeSide = 128;

    /// <summary>Head-room on the measured working memory (allocator slack, fragmentation).</summary>
    public const double Safety = 1.25;

    /// <summary>The default budget: half of the memory available now, at most 4 GB (enough for tiles of a
    /// thousand pixels or more with every network we ship; more only makes tiles larger, not faster).</summary>
    public static long DefaultBudget() => Math.Min(AvailableBytes() / 2, 4L << 30);

    /// <summary>Memory this process can still use: the smaller of the runtime's limit (physical memory or the
    /// container's limit) minus what the process holds, and the kernel's MemAvailable on Linux.</summary>
    public static long AvailableBytes()
    {
        long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes - Environment.WorkingSet;
        if (MemAvailable() is { } kernel) available = Math.Min(available, kernel);
        return Math.Max(0, available);
    }

    private static long? MemAvailable()
    {
        try
        {
            var line = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemAvailable:", StringComparison.Ordinal));
            return line is null ? null : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }

    /// <summary>
    /// Runs <paramref name="forward"/> once on a zero image of <paramref name="side"/>² and returns the peak memory it
    /// added per pixel (null where the peak cannot be read), and the bytes per pixel of the final output and of all
    /// outputs, each with one count plane (what tiled stitching keeps for the whole image).
    /// </summary>
    public static TileCost Probe(Func<Tensor, IReadOnlyDictionary<string, Tensor>> forward, long channels, int side, Device device)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        // Freed-but-kept heap pages would be reused by the probe and hide part of its need.
        NativeHeap.ReleaseFreed();
        var before = ResetPeak();
        long all = 0, final = 0;
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var x = zeros([1, channels, side, side], ScalarType.Float32, device);
            foreach (var (name, value) in forward(x))
            {
                long bytes = value.numel() * 4 + (value.dim() == 4 ? value.shape[2] * value.shape[3] * 4 : 0);
                all += bytes;
                if (name == INamedOutputs.Final) final = bytes;
            }
        }
        var peak = PeakRss();
        long pixels = (long)side * side;
        long? working = before is null || peak is null ? null : Math.Max(peak.Value - before.Value, all) / pixels;
        return new TileCost(working, (final + pixels - 1) / pixels, (all + pixels - 1) / pixels);
    }

    /// <summary>What <see cref="Probe"/> measured, per input pixel.</summary>
    /// <param name="Working">Peak working memory of one forward pass (null: could not be measured).</param>
    /// <param name="FinalOutput">The final image output plus its count plane.</param>
    /// <param name="AllOutputs">Every named output plus a count plane each.</param>
    public readonly record struct TileCost(long? Working, long FinalOutput, long AllOutputs);

    // Resets the kernel's high-water mark of this process to its current RSS (Linux ≥ 4.0) and returns that RSS.
    private static long? ResetPeak()
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return Status("VmRSS:");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static long? PeakRss() => OperatingSystem.IsLinux() ? Status("VmHWM:") : null;

    private static long? Status(string key)
    {
        try
        {
            var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith(key, StringComparison.Ordinal));
            return line is null ? null : long.Parse(line[key.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }

    /// <summary>"8000×8000" for messages.</summary>
    public static string Size(long height, long width) => $"{width}×{height}";

    /// <summary>The advice every refusal ends with.</summary>
    public const string Advice = "raise the budget (--memory-budget, RestorerOptions.MemoryBudgetBytes) or restore a smaller image.";

    /// <summary>Formats bytes for log lines.</summary>
    public static string Format(long bytes) => ByteSize.Format(bytes);

    /// <summary>Throws the refusal for a plan that needs <paramref name="needed"/> bytes.</summary>
    public static MemoryBudgetException Refuse(string what, long needed, long budget, string advice = Advice) => new(what, needed, budget, advice);
}
