using System.Collections.Concurrent;
using System.Text.Json;
using DaRcot.Rec.Imaging;
using DaRcot.Rec.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Metrics;

/// <summary>Reads <c>metrics/expected.json</c> (scikit-image 0.19.3 values) and caches the images it names.</summary>
internal static class MetricFixtures
{
    public static readonly string[] MetricNames = { "psnr", "ssim_skimage_default", "ssim_gaussian", "psnr_y", "ssim_y_gaussian" };

    private static readonly ConcurrentDictionary<string, Tensor> Images = new();

    /// <summary>The (case index, metric name) pairs present in expected.json; one placeholder row when it is absent,
    /// so that the test runs, calls <see cref="Fixtures.Path"/> and skips (or fails under DARCOT_REQUIRE_FIXTURES=1).</summary>
    public static IEnumerable<object[]> CaseMetricPairs()
    {
        var root = Fixtures.RootOrNull;
        var file = root is null ? null : System.IO.Path.Combine(root, "metrics", "expected.json");
        if (file is null || !File.Exists(file))
        {
            yield return new object[] { -1, "missing" };
            yield break;
        }
        using var doc = JsonDocument.Parse(File.ReadAllText(file));
        int index = 0;
        foreach (var item in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            foreach (var metric in MetricNames)
                if (item.TryGetProperty(metric, out _)) yield return new object[] { index, metric };
            index++;
        }
    }

    public sealed record Case(string Clean, string Degraded, IReadOnlyDictionary<string, double> Expected, double PsnrTol, double SsimTol);

    public static IReadOnlyList<Case> Cases()
    {
        var file = Fixtures.Path("metrics", "expected.json");
        using var doc = JsonDocument.Parse(File.ReadAllText(file));
        var tol = doc.RootElement.GetProperty("abs_tol");
        var psnrTol = tol.GetProperty("psnr").GetDouble();
        var ssimTol = tol.GetProperty("ssim").GetDouble();
        var cases = new List<Case>();
        foreach (var item in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            var expected = MetricNames.Where(m => item.TryGetProperty(m, out _))
                .ToDictionary(m => m, m => item.GetProperty(m).GetDouble());
            cases.Add(new Case(item.GetProperty("clean").GetString()!, item.GetProperty("degraded").GetString()!, expected, psnrTol, ssimTol));
        }
        return cases;
    }

    /// <summary>A metrics PNG as float64 <c>[1,3,H,W]</c>; loaded once per test run. Not disposed: shared by tests.</summary>
    public static Tensor Image(string name) => Images.GetOrAdd(name, n =>
    {
        using var scope = torch.NewDisposeScope();
        return ImageTensor.Load(Fixtures.Path("metrics", n)).to_type(ScalarType.Float64).DetachFromDisposeScope();
    });
}
