using DaRcot.Rec.Tests.Infrastructure;
using System.Diagnostics;
using DaRcot.Cli;
using DaRcot.Rec.Imaging;
using DaRcot.Rec.Inference.Sharding;
using DaRcot.Rec.Tests.Data;
using Xunit.Abstractions;

namespace DaRcot.Rec.Tests.Sharding;

/// <summary>A local stand-in for an array job: three <c>darcot restore --shard K/3</c> processes at once over one
/// manifest, each planning on its own; together they restore every input exactly once. And a shard killed with
/// SIGKILL mid-run: the re-run restores only what is missing.</summary>
public sealed class ShardedProcessesTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("darcot-shards-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Three_concurrent_shards_restore_every_input_exactly_once()
    {
        var data = Path.Combine(_dir, "data");
        // Six inputs of different sizes (and two with the same file name in different folders).
        string[] keys = ["x.png", "y.png", "z.png", "one/same.png", "two/same.png", "w.png"];
        for (var i = 0; i < keys.Length; i++) TempFolder.Random(Path.Combine(data, keys[i]), 16, 16 + 4 * i, seed: 10 + i);
        var manifest = Path.Combine(data, "manifest.txt");
        File.WriteAllLines(manifest, keys);
        var output = Path.Combine(_dir, "out");

        var clock = Stopwatch.StartNew();
        var runs = Enumerable.Range(0, 3).Select(k => RunShard(manifest, output, k)).ToArray();
        var results = await Task.WhenAll(runs);
        clock.Stop();
        log.WriteLine($"3 shards over {keys.Length} images: {clock.Elapsed.TotalSeconds:0.0} s wall");
        for (var k = 0; k < 3; k++) Assert.True(results[k].Code == 0, $"shard {k}/3: {results[k].Output}");

        var reports = Enumerable.Range(0, 3).Select(k => ShardReport.Read(Path.Combine(output, "reports", $"shard-{k}-of-3.json"))).ToList();
        var restored = reports.SelectMany(r => r.DoneInputs).ToList();
        Assert.Equal(keys.Order(StringComparer.Ordinal), restored.Order(StringComparer.Ordinal));   // each once, none left out
        Assert.All(reports, r => Assert.Equal(0, r.Skipped));
        // Each process computed the same plan as this one, from the file sizes alone.
        var plan = ShardPlan.Create(keys.Select(k => new ShardItem(k, new FileInfo(Path.Combine(data, k)).Length)), 3);
        for (var k = 0; k < 3; k++)
        {
            Assert.Equal(plan.Shard(k).Select(i => i.Key).Order(StringComparer.Ordinal), reports[k].DoneInputs);
            log.WriteLine($"shard {k}: {reports[k].Done} images, {plan.Bytes(k)} bytes, {reports[k].Seconds:0.00} s");
        }
        foreach (var (key, i) in keys.Select((key, i) => (key, i)))
            Assert.Equal(16 + 4 * i, ImageTensor.Identify(Path.Combine(output, key)).Height);
        Assert.Empty(Directory.GetFiles(output, "*.tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task A_shard_killed_mid_run_finishes_only_the_rest_when_run_again()
    {
        var data = Path.Combine(_dir, "data");
        var keys = Enumerable.Range(0, 24).Select(i => $"img{i:D2}.png").ToArray();
        for (var i = 0; i < keys.Length; i++) TempFolder.Random(Path.Combine(data, keys[i]), 64, 64, seed: i);
        var manifest = Path.Combine(data, "manifest.txt");
        File.WriteAllLines(manifest, keys);
        var output = Path.Combine(_dir, "out");

        // SIGKILL (no cleanup, no report) as soon as the first image is reported written.
        using (var process = Process.Start(Start(manifest, output, "0/1"))!)
        {
            var firstWritten = new TaskCompletionSource();
            process.OutputDataReceived += (_, e) => { if (e.Data?.StartsWith("[1/", StringComparison.Ordinal) == true) firstWritten.TrySetResult(); };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var exited = process.WaitForExitAsync();
            Assert.True(await Task.WhenAny(firstWritten.Task, exited, Task.Delay(TimeSpan.FromSeconds(60))) == firstWritten.Task, "no image was restored");
            process.Kill();
            await exited;
        }
        Assert.False(File.Exists(Path.Combine(output, "reports", "shard-0-of-1.json")));
        var written = keys.Where(k => File.Exists(Path.Combine(output, k))).ToList();
        log.WriteLine($"killed after {written.Count} of {keys.Length} images");
        Assert.NotEmpty(written);
        // Whatever has its final name is a whole image (outputs are renamed into place).
        foreach (var key in written) Assert.Equal(64, ImageTensor.Identify(Path.Combine(output, key)).Width);

        var (code, text) = await Wait(Process.Start(Start(manifest, output, "0/1"))!, "rerun");
        Assert.True(code == 0, text);
        var report = ShardReport.Read(Path.Combine(output, "reports", "shard-0-of-1.json"));
        Assert.Equal(written, report.SkippedInputs);
        Assert.Equal(keys.Except(written), report.DoneInputs);
        Assert.Equal(keys.Length, report.Done + report.Skipped);
        Assert.Empty(Directory.GetFiles(output, "*.tmp"));
    }

    private static ProcessStartInfo Start(string manifest, string output, string shard)
    {
        var cli = typeof(CliCommands).Assembly.Location;
        var start = new ProcessStartInfo("dotnet", [cli, "restore", "--manifest", manifest, "-o", output, "--shard", shard])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // One libtorch thread each: several processes share a small machine.
        start.Environment["DARCOT_THREADS"] = "1";
        foreach (var name in new[] { "JOB_COMPLETION_INDEX", "DARCOT_SHARD_COUNT", "SLURM_ARRAY_TASK_ID" }) start.Environment.Remove(name);
        return start;
    }

    private static Task<(int Code, string Output)> Wait(Process process, string name) => ChildProcess.Wait(process, name);

    private static Task<(int Code, string Output)> RunShard(string manifest, string output, int k) =>
        Wait(Process.Start(Start(manifest, output, $"{k}/3"))!, $"shard {k}/3");
}
