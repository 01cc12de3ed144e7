using System.Diagnostics;

namespace DaRcot.Rec.Tests.Infrastructure;

/// <summary>Waiting for a child process that tests start (a darcot run, an MPI launcher).</summary>
public static class ChildProcess
{
    /// <summary>Waits up to <paramref name="seconds"/> for <paramref name="process"/> (started with redirected output),
    /// disposes it, and returns its exit code with standard output and error; on time-out it kills the process tree
    /// and throws <see cref="TimeoutException"/> naming <paramref name="name"/>.</summary>
    public static async Task<(int Code, string Output)> Wait(Process process, string name, int seconds = 120)
    {
        ArgumentNullException.ThrowIfNull(process);
        using (process)
        {
            // Both streams are drained from the start: a full pipe would block the child.
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"{name} did not finish in {seconds} s");
            }
            return (process.ExitCode, await stdout + "\n--- stderr ---\n" + await stderr);
        }
    }
}
