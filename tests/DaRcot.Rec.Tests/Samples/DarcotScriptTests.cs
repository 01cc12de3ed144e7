using System.Diagnostics;
using DaRcot.Rec.Tests.Infrastructure;

namespace DaRcot.Rec.Tests.Samples;

/// <summary><c>eng/darcot.sh</c> builds the tool once and then only when a source is newer than it. Run on a copy
/// of the script in a scratch tree with a stand-in <c>dotnet</c> that records its calls, so nothing is built.</summary>
public sealed class DarcotScriptTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("darcot-sh-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string Dll => Path.Combine(_root, "samples", "DaRcot.Cli", "bin", "Release", "net10.0", "darcot.dll");

    private string Log => Path.Combine(_root, "dotnet-calls.txt");

    private void Write(string relative, string content)
    {
        var path = Path.Combine(_root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
    }

    private string[] RunScript()
    {
        File.Delete(Log);
        var start = new ProcessStartInfo("bash", [Path.Combine(_root, "eng", "darcot.sh"), "info", "x.pth"])
        {
            UseShellExecute = false,
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        start.Environment["PATH"] = Path.Combine(_root, "fakebin") + ":" + Environment.GetEnvironmentVariable("PATH");
        start.Environment.Remove("DARCOT_ARTIFACTS");
        using var process = Process.Start(start)!;
        var err = process.StandardError.ReadToEnd();
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, err);
        return File.ReadAllLines(Log);
    }

    public DarcotScriptTests()
    {
        File.Copy(Path.Combine(Fixtures.RepoRoot, "eng", "darcot.sh"), Path.Combine(Directory.CreateDirectory(Path.Combine(_root, "eng")).FullName, "darcot.sh"));
        Write("eng/ensure-native.sh", "exit 0\n");
        Write("src/DaRcot.Rec/Lib.cs", "// library source\n");
        Write("samples/DaRcot.Cli/Program.cs", "// cli source\n");
        // The stand-in dotnet: records every call; "build" produces the tool, like the real build.
        Write("fakebin/dotnet", $"#!/usr/bin/env bash\necho \"$*\" >> '{Log}'\nif [ \"$1\" = build ]; then mkdir -p '{Path.GetDirectoryName(Dll)}'; echo dll > '{Dll}'; fi\n");
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(Path.Combine(_root, "fakebin", "dotnet"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    [Fact]
    public void It_builds_once_then_runs_the_built_tool_and_rebuilds_only_after_a_source_changes()
    {
        var first = RunScript();
        Assert.StartsWith("build ", first[0]);
        Assert.Equal($"{Dll} info x.pth", first[^1]);

        // Inputs older than the tool: no build, straight to the tool.
        foreach (var f in Directory.GetFiles(Path.Combine(_root, "src"), "*", SearchOption.AllDirectories).Concat(Directory.GetFiles(Path.Combine(_root, "samples", "DaRcot.Cli"), "*.cs")))
            File.SetLastWriteTimeUtc(f, DateTime.UtcNow.AddMinutes(-10));
        Assert.Equal([$"{Dll} info x.pth"], RunScript());

        // A source edited after the build: rebuilt once, then current again.
        File.SetLastWriteTimeUtc(Path.Combine(_root, "src", "DaRcot.Rec", "Lib.cs"), DateTime.UtcNow.AddMinutes(5));
        Assert.StartsWith("build ", RunScript()[0]);
        File.SetLastWriteTimeUtc(Dll, DateTime.UtcNow.AddMinutes(10));
        Assert.Equal([$"{Dll} info x.pth"], RunScript());
    }
}
