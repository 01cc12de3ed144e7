using System.Runtime;

namespace DaRcot.Rec.Training;

/// <summary>
/// Runs a training step inside a .NET "no GC region".
/// </summary>
/// <remarks>
/// Why: TorchSharp 0.107 turns <c>double</c> arguments (learning rates, LeakyReLU slopes, loss weights, ...) into
/// temporary native <c>Scalar</c> objects that are neither tracked by dispose scopes nor kept alive across the
/// native call that reads their handle. When a garbage collection triggered by another thread (data loading, the
/// JIT, the test host) runs during that call, the Scalar's finalizer can free it while libtorch is still using it;
/// this surfaces, randomly and only in long runs, as "Expected false to be true ... toFloat (Scalar.h)" or worse.
/// Suppressing collections for the duration of a step closes that window; the Scalars are collected between steps,
/// when nothing uses them any more. When the budget is exceeded (or something induces a collection) the runtime ends
/// the region by itself and the step runs unguarded from there on; <see cref="Run{T}"/> then calls its
/// <c>lapsed</c> callback so the trainer can say so in its log instead of silently losing the protection.
/// </remarks>
internal static class NativeCallGuard
{
    // Budgets tried in order (the runtime caps the size it accepts). Managed allocations of a step are small
    // (tensor wrappers, scalars); the rest of the budget absorbs other threads (data loading) while a step runs.
    private static readonly long[] Budgets = { 240L << 20, 128L << 20, 64L << 20, 16L << 20 };

    // The region is process-wide: concurrent trainers share it. The first to enter starts it, the last to leave
    // ends it; a thread that enters while others are inside never starts one (starting one forces a collection,
    // which is exactly what must not happen while another step is inside a native call).
    private static readonly object Gate = new();
    private static int inside;
    private static bool owned;

    /// <summary>Runs <paramref name="step"/>, inside a no-GC region when <paramref name="enabled"/>.</summary>
    /// <param name="enabled">False: just run the step.</param>
    /// <param name="step">The work to protect.</param>
    /// <param name="lapsed">Called (on the calling thread, after the step) when the region this call was part of had
    /// already been ended by the runtime before the step finished, i.e. part of the step ran unprotected.</param>
    public static T Run<T>(bool enabled, Func<T> step, Action? lapsed = null)
    {
        if (!enabled) return step();
        Enter();
        try
        {
            return step();
        }
        finally
        {
            if (Exit()) lapsed?.Invoke();
        }
    }

    private static void Enter()
    {
        lock (Gate)
        {
            inside++;
            if (inside > 1 || GCSettings.LatencyMode == GCLatencyMode.NoGCRegion) return;
            foreach (var budget in Budgets)
            {
                try
                {
                    owned = GC.TryStartNoGCRegion(budget);
                    return;
                }
                catch (ArgumentOutOfRangeException)
                {
                    // Larger than this runtime allows: try a smaller budget.
                }
                catch (InvalidOperationException)
                {
                    return;
                }
            }
        }
    }

    // Returns true when the region had ended early (budget exceeded, induced collection). Only the thread that
    // closes the region can tell; concurrent trainers sharing it leave that report to the last one out.
    private static bool Exit()
    {
        lock (Gate)
        {
            inside--;
            if (inside > 0 || !owned) return false;
            owned = false;
            if (GCSettings.LatencyMode != GCLatencyMode.NoGCRegion) return true;
            try
            {
                GC.EndNoGCRegion();
                return false;
            }
            catch (InvalidOperationException)
            {
                // The budget was exceeded and a collection already ended the region.
                return true;
            }
        }
    }
}
