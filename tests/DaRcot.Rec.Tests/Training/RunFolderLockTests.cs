using System.Diagnostics;
using System.Text.Json;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Tests.Infrastructure;
using DaRcot.Rec.Training;

namespace DaRcot.Rec.Tests.Training;

/// <summary>The output-folder lock of <c>darcot train</c>: one live owner, stale locks taken over.</summary>
public sealed class RunFolderLockTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("darcot-lock-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string LockFile => Path.Combine(_dir, RunFolderLock.FileName);

    private void WriteLock(int pid, DateTime startedUtc, string? host = null) =>
        File.WriteAllText(LockFile, JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["pid"] = pid.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["started_utc"] = startedUtc.ToString("O"),
            ["host"] = host ?? Environment.MachineName,
            ["token"] = "someone-else",
        }));

    [Fact]
    public void A_second_claim_is_refused_while_the_first_holds_and_allowed_after_release()
    {
        var first = RunFolderLock.Acquire(_dir);
        Assert.Contains($"\"pid\":\"{Environment.ProcessId}\"", File.ReadAllText(LockFile));
        var ex = Assert.Throws<RunFolderLockedException>(() => RunFolderLock.Acquire(_dir));
        Assert.Equal(Environment.ProcessId, ex.ProcessId);
        Assert.Contains($"PID {Environment.ProcessId}", ex.Message);
        Assert.Contains(LockFile, ex.Message);
        first.Dispose();
        Assert.False(File.Exists(LockFile));
        using var second = RunFolderLock.Acquire(_dir);
        Assert.True(File.Exists(LockFile));
    }

    [Fact]
    public void A_live_process_of_another_program_holds_the_lock()
    {
        using var sleeper = Process.Start(new ProcessStartInfo("sleep", ["30"]) { UseShellExecute = false })!;
        try
        {
            WriteLock(sleeper.Id, sleeper.StartTime.ToUniversalTime());
            var ex = Assert.Throws<RunFolderLockedException>(() => RunFolderLock.Acquire(_dir));
            Assert.Equal(sleeper.Id, ex.ProcessId);
            Assert.Contains("someone-else", File.ReadAllText(LockFile));   // untouched
        }
        finally
        {
            sleeper.Kill();
        }
    }

    [Fact]
    public void A_lock_whose_process_ended_or_whose_id_was_reused_is_stale_and_taken_over_with_a_warning()
    {
        int deadPid;
        using (var done = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!)
        {
            done.WaitForExit();
            deadPid = done.Id;
        }
        WriteLock(deadPid, DateTime.UtcNow);
        var logger = new ListLogger();
        using (RunFolderLock.Acquire(_dir, logger))
            Assert.Contains("stale", Assert.Single(logger.Warnings));

        // Our own id, but a start time that is not ours: the id was reused by another process.
        WriteLock(Environment.ProcessId, new DateTime(2001, 1, 1, 0, 0, 0, DateTimeKind.Utc));
        using (RunFolderLock.Acquire(_dir)) { }

        File.WriteAllText(LockFile, "garbage from a crash");
        using (RunFolderLock.Acquire(_dir)) { }
    }
}
