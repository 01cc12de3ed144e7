using System.Runtime.InteropServices;

namespace DaRcot.Cli;

/// <summary>
/// Ctrl-C (SIGINT) and SIGTERM for the darcot process: the first one cancels the running command's token, so the
/// command stops at its next safe point (training writes a consistent checkpoint) and exits with 130; the second
/// one ends the process at once.
/// </summary>
public sealed class CliInterrupt : IDisposable
{
    /// <summary>The exit code of a command stopped by Ctrl-C (128 + SIGINT, what shells report).</summary>
    public const int ExitCode = 130;

    private readonly CancellationTokenSource _cancellation = new();
    private readonly List<PosixSignalRegistration> _registrations = new();
    private readonly Action<string> _notify;
    private int _signals;

    /// <summary>Creates the handler without registering it with the OS (tests call <see cref="OnSignal"/>).</summary>
    /// <param name="notify">Receives the one-line notice printed on the first signal.</param>
    public CliInterrupt(Action<string>? notify = null) => _notify = notify ?? (m => Console.Error.WriteLine(m));

    /// <summary>Cancelled by the first signal.</summary>
    public CancellationToken Token => _cancellation.Token;

    /// <summary>Registers for SIGINT and SIGTERM.</summary>
    public static CliInterrupt Install()
    {
        var interrupt = new CliInterrupt();
        foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM })
            interrupt._registrations.Add(PosixSignalRegistration.Create(signal, c => c.Cancel = interrupt.OnSignal()));
        return interrupt;
    }

    /// <summary>Handles one signal. Returns true when the signal's default action (ending the process) must be
    /// suppressed: the first time, after cancelling <see cref="Token"/>; false from the second one on.</summary>
    public bool OnSignal()
    {
        if (Interlocked.Increment(ref _signals) > 1) return false;
        _notify("darcot: interrupted; stopping cleanly (press Ctrl-C again to quit at once).");
        _cancellation.Cancel();
        return true;
    }

    /// <summary>Unregisters the handlers.</summary>
    public void Dispose()
    {
        foreach (var r in _registrations) r.Dispose();
        _cancellation.Dispose();
    }
}
