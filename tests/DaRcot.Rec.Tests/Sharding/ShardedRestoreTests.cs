using DaRcot.Rec.Imaging;
using DaRcot.Rec.Inference.Sharding;
using DaRcot.Rec.Tests.Data;
using DaRcot.Rec.Tests.Infrastructure;

namespace DaRcot.Rec.Tests.Sharding;

/// <summary><c>darcot restore --manifest/--shard</c> and <c>darcot report merge</c> in-process with the bundled
/// denoiser on 16×16 images: resuming after a killed shard, reports, and one-line errors.</summary>
[Collection(ConsoleCaptureCollection.Name)]
public sealed class ShardedRestoreTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("darcot-shard-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Data => Path.Combine(_dir, "data");

    private string Out => Path.Combine(_dir, "out");

    /// <summary>Writes the images (textured; a larger side makes a larger file) and a manifest listing them.</summary>
    private string Manifest(params string[] keys)
    {
        for (var i = 0; i < keys.Length; i++) TempFolder.Random(Path.Combine(Data, keys[i]), 16, 16 + 2 * i, seed: i);
        var manifest = Path.Combine(Data, "manifest.txt");
        File.WriteAllLines(manifest, ["# test inputs", .. keys, ""]);
        return manifest;
    }

    private ShardReport Report(int k, int n) => ShardReport.Read(Path.Combine(Out, "reports", $"shard-{k}-of-{n}.json"));

    private static string OneLine(string err) => Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));

    [Fact]
    public void A_rerun_after_a_killed_shard_restores_only_the_missing_outputs()
    {
        string[] keys = ["a/x.png", "b/x.png", "c.png", "d.png", "e.png"];
        var manifest = Manifest(keys);
        var (code, stdout, err) = CliRun.Capture("restore", "--manifest", manifest, "-o", Out);
        Assert.True(code == 0, err);
        Assert.Contains("restored 5, already complete 0, failed 0 of 5", stdout);
        foreach (var key in keys) Assert.Equal((16, 16 + 2 * Array.IndexOf(keys, key)), Size(Path.Combine(Out, key)));

        // What a killed shard leaves: some outputs, some not written yet, and the temporary file of the one it was
        // writing (never under the final name: outputs are renamed into place).
        var old = new DateTime(2001, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        foreach (var key in new[] { "a/x.png", "c.png", "e.png" }) File.SetLastWriteTimeUtc(Path.Combine(Out, key), old);
        File.Delete(Path.Combine(Out, "b", "x.png"));
        File.Delete(Path.Combine(Out, "d.png"));
        var stray = Path.Combine(Out, $".d.png.{Guid.NewGuid():N}.tmp");
        File.WriteAllBytes(stray, [0x89, 0x50]);

        (code, stdout, err) = CliRun.Capture("restore", "--manifest", manifest, "-o", Out);
        Assert.True(code == 0, err);
        var report = Report(0, 1);
        Assert.Equal((5, 2, 3), (report.Count, report.Done, report.Skipped));
        Assert.Equal(["b/x.png", "d.png"], report.DoneInputs);
        Assert.Equal(["a/x.png", "c.png", "e.png"], report.SkippedInputs);
        Assert.True(report.Finished);
        foreach (var key in new[] { "a/x.png", "c.png", "e.png" }) Assert.Equal(old, File.GetLastWriteTimeUtc(Path.Combine(Out, key)));
        foreach (var key in new[] { "b/x.png", "d.png" }) Assert.True(File.GetLastWriteTimeUtc(Path.Combine(Out, key)) > old.AddYears(20));
        Assert.False(File.Exists(stray));
        Assert.Empty(Directory.GetFiles(Out, "*.tmp", SearchOption.AllDirectories));

        // Complete: a third run restores nothing.
        (code, stdout, _) = CliRun.Capture("restore", "--manifest", manifest, "-o", Out);
        Assert.Equal(0, code);
        Assert.Equal((0, 5), (Report(0, 1).Done, Report(0, 1).Skipped));
        Assert.Contains("restored 0, already complete 5", stdout);
    }

    private static (int, int) Size(string png)
    {
        var header = ImageTensor.Identify(png);
        return (header.Width, header.Height);
    }

    [Fact]
    public void Merge_lists_the_inputs_of_a_shard_that_never_ran_and_passes_once_it_has()
    {
        string[] keys = ["p0.png", "p1.png", "p2.png", "p3.png", "p4.png"];
        var manifest = Manifest(keys);
        // The plan every shard computes; the shard after p4's never runs (as if its pod was never scheduled).
        var plan = ShardPlan.Create(keys.Select(k => new ShardItem(k, new FileInfo(Path.Combine(Data, k)).Length)), 3);
        var never = (plan.ShardOf("p4.png") + 1) % 3;
        foreach (var k in Enumerable.Range(0, 3).Where(k => k != never))
        {
            var (code, _, err) = CliRun.Capture("restore", "--manifest", manifest, "-o", Out, "--shard", $"{k}/3");
            Assert.True(code == 0, err);
            Assert.Equal(plan.Shard(k).Select(i => i.Key).Order(StringComparer.Ordinal), Report(k, 3).DoneInputs);
        }
        var (mergeCode, stdout, _) = CliRun.Capture("report", "merge", Out, "--manifest", manifest);
        stdout = stdout.ReplaceLineEndings("\n");
        Assert.Equal(2, mergeCode);
        var notRun = plan.Shard(never).Select(i => i.Key).Order(StringComparer.Ordinal).ToList();
        Assert.NotEmpty(notRun);
        Assert.Contains($"missing ({notRun.Count}):\n" + string.Concat(notRun.Select(k => $"  {k}\n")), stdout);
        Assert.Contains($"shards without a report (1):\n  {never}/3\n", stdout);
        Assert.EndsWith("\nincomplete\n", stdout);

        Assert.Equal(0, CliRun.Capture("restore", "--manifest", manifest, "-o", Out, "--shard", $"{never}/3").Code);
        (mergeCode, stdout, _) = CliRun.Capture("report", "merge", Path.Combine(Out, "reports"), "--manifest", manifest);
        Assert.True(mergeCode == 0, stdout);
        Assert.StartsWith("3 reports: 5 inputs, 5 restored, 0 already complete, 0 failed", stdout);
        Assert.EndsWith("\ncomplete\n", stdout.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void An_unreadable_input_fails_alone_and_merge_lists_it()
    {
        var manifest = Manifest("good.png", "bad.png");
        File.WriteAllText(Path.Combine(Data, "bad.png"), "not an image");
        var (code, stdout, err) = CliRun.Capture("restore", "--manifest", manifest, "-o", Out);
        Assert.Equal(2, code);
        Assert.StartsWith("darcot restore: failed bad.png: ", OneLine(err));
        Assert.Contains("restored 1, already complete 0, failed 1 of 2", stdout);
        Assert.Equal("bad.png", Assert.Single(Report(0, 1).Failed).Input);

        (code, stdout, _) = CliRun.Capture("report", "merge", Out, "--manifest", manifest);
        Assert.Equal(2, code);
        Assert.Contains("failed (1):\n  bad.png: ", stdout.ReplaceLineEndings("\n"));
        Assert.DoesNotContain("missing", stdout);
    }

    [Fact]
    public void Shard_and_manifest_mistakes_are_one_line_errors()
    {
        var manifest = Manifest("a.png");
        var (code, _, err) = CliRun.Capture("restore", "--manifest", manifest, "-o", Out, "--shard", "3/3");
        Assert.Equal(1, code);
        Assert.Contains("--shard 3/3", OneLine(err));

        (code, _, err) = CliRun.Capture("restore", Path.Combine(Data, "a.png"), "-o", Out, "--shard", "0/2");
        Assert.Equal(1, code);
        Assert.Contains("--shard needs a folder or --manifest", OneLine(err));

        (code, _, err) = CliRun.Capture("restore", "--manifest", manifest, "-o", Data);
        Assert.Equal(1, code);
        Assert.Contains("is the manifest's folder", OneLine(err));

        (code, _, err) = CliRun.Capture("restore", "-o", Out);
        Assert.Equal(1, code);
        Assert.Contains("--manifest FILE", OneLine(err));

        File.AppendAllLines(manifest, ["../outside.png"]);
        (code, _, err) = CliRun.Capture("restore", "--manifest", manifest, "-o", Out);
        Assert.Equal(1, code);
        Assert.Contains("line 4", OneLine(err));

        (code, _, err) = CliRun.Capture("report", "merge", Path.Combine(_dir, "nothing-here"));
        Assert.Equal(1, code);
        Assert.Contains("does not exist", OneLine(err));
        Assert.False(Directory.Exists(Path.Combine(Out, "reports")));
    }

    [Fact]
    public void A_folder_in_a_Kubernetes_indexed_job_is_sharded_from_the_environment()
    {
        Manifest("a.png", "b.png", "c.png");
        File.Delete(Path.Combine(Data, "manifest.txt"));
        try
        {
            Environment.SetEnvironmentVariable("JOB_COMPLETION_INDEX", "1");
            var (code, _, err) = CliRun.Capture("restore", Data, "-o", Out);
            Assert.Equal(1, code);
            Assert.Contains("DARCOT_SHARD_COUNT is not", OneLine(err));

            Environment.SetEnvironmentVariable("DARCOT_SHARD_COUNT", "2");
            (code, _, err) = CliRun.Capture("restore", Data, "-o", Out);
            Assert.True(code == 0, err);
            Assert.Contains("shard 1/2 of 3 images (from JOB_COMPLETION_INDEX=1, DARCOT_SHARD_COUNT=2)", err);
            var report = Report(1, 2);
            Assert.Equal(report.DoneInputs, Directory.GetFiles(Out).Select(Path.GetFileName).Order(StringComparer.Ordinal));
            Assert.NotEmpty(report.DoneInputs);
        }
        finally
        {
            Environment.SetEnvironmentVariable("JOB_COMPLETION_INDEX", null);
            Environment.SetEnvironmentVariable("DARCOT_SHARD_COUNT", null);
        }
    }
}
