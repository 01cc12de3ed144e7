using System.Text.Json;
using DaRcot.Cli;
using DaRcot.Rec.Tests.Infrastructure;

namespace DaRcot.Rec.Tests.Metrics;

/// <summary><c>darcot metrics</c> run in-process on the scikit-image fixtures.</summary>
[Collection(ConsoleCaptureCollection.Name)]
public sealed class MetricsCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("darcot-metrics-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args) => CliRun.Capture(args);

    public static IEnumerable<object[]> CaseIndices() =>
        MetricFixtures.CaseMetricPairs().Select(p => (int)p[0]).Distinct().Select(i => new object[] { i });

    /// <summary>CLI key → expected.json key; the luma SSIM with the default window has no reference value.</summary>
    private static readonly (string Cli, string Expected)[] Compared =
    {
        ("psnr", "psnr"), ("ssim", "ssim_skimage_default"), ("ssim_gaussian", "ssim_gaussian"),
        ("psnr_y", "psnr_y"), ("ssim_y_gaussian", "ssim_y_gaussian"),
    };

    private static void AssertMatches(JsonElement actual, MetricFixtures.Case c)
    {
        foreach (var (cli, key) in Compared)
        {
            var value = actual.GetProperty(cli);
            if (!c.Expected.TryGetValue(key, out var expected))
            {
                // expected.json has no luma values for the greyscale pair; the CLI reports null there.
                Assert.Equal(JsonValueKind.Null, value.ValueKind);
                continue;
            }
            var tol = cli.StartsWith("psnr") ? c.PsnrTol : c.SsimTol;
            Assert.True(Math.Abs(value.GetDouble() - expected) <= tol, $"{c.Degraded} {cli}: expected {expected}, got {value.GetDouble()}");
        }
        Assert.InRange(actual.GetProperty("ssim").GetDouble(), -1, 1);
    }

    [SkippableTheory]
    [MemberData(nameof(CaseIndices))]
    public void SinglePair_PrintsJsonEqualToScikitImage(int caseIndex)
    {
        Fixtures.Path("metrics", "expected.json");
        var c = MetricFixtures.Cases()[caseIndex];
        var (code, stdout, stderr) = Run("metrics", Fixtures.Path("metrics", c.Degraded), Fixtures.Path("metrics", c.Clean));
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal(new[] { "psnr", "ssim", "ssim_gaussian", "psnr_y", "ssim_y", "ssim_y_gaussian" },
            doc.RootElement.EnumerateObject().Select(p => p.Name).ToArray());
        AssertMatches(doc.RootElement, c);
    }

    [SkippableFact]
    public void Folders_PairByName_AndReportTheMean()
    {
        var cases = MetricFixtures.Cases().Where(c => c.Expected.ContainsKey("psnr_y")).Take(2).ToList();
        Assert.True(cases.Count >= 2, "expected.json should have at least two RGB cases");
        var restored = Directory.CreateDirectory(Path.Combine(_dir, "restored")).FullName;
        var reference = Directory.CreateDirectory(Path.Combine(_dir, "reference")).FullName;
        for (int i = 0; i < cases.Count; i++)
        {
            File.Copy(Fixtures.Path("metrics", cases[i].Degraded), Path.Combine(restored, $"img{i}.png"));
            File.Copy(Fixtures.Path("metrics", cases[i].Clean), Path.Combine(reference, $"img{i}.png"));
        }
        File.WriteAllText(Path.Combine(restored, "readme.txt"), "not an image; ignored");

        var (code, stdout, stderr) = Run("metrics", restored, reference);
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var pairs = doc.RootElement.GetProperty("pairs").EnumerateArray().ToList();
        Assert.Equal(2, doc.RootElement.GetProperty("count").GetInt32());
        Assert.Equal(new[] { "img0.png", "img1.png" }, pairs.Select(p => p.GetProperty("name").GetString()).ToArray());
        for (int i = 0; i < 2; i++) AssertMatches(pairs[i], cases[i]);
        var mean = doc.RootElement.GetProperty("mean");
        Assert.Equal((cases[0].Expected["psnr"] + cases[1].Expected["psnr"]) / 2, mean.GetProperty("psnr").GetDouble(), 3);
        Assert.Equal((cases[0].Expected["ssim_gaussian"] + cases[1].Expected["ssim_gaussian"]) / 2, mean.GetProperty("ssim_gaussian").GetDouble(), 4);
    }

    [Fact]
    public void BadInput_GivesOneLineErrorAndExitCode1()
    {
        var missing = Path.Combine(_dir, "missing.png");
        var (code, stdout, stderr) = Run("metrics", missing, missing);
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.Contains("does not exist", stderr);
        Assert.Single(stderr.Trim().Split('\n'));

        (code, stdout, stderr) = Run("metrics", _dir, missing);
        Assert.Equal(1, code);
        Assert.Contains("both be files or both be folders", stderr);
    }
}
