namespace DaRcot.Rec.Errors;

/// <summary>
/// A weight, gradient or optimizer-state tensor of a training run holds NaN or ±∞. Gradients are checked before every
/// optimizer step (so a bad gradient never reaches the weights) and every state before a checkpoint is written (so a
/// checkpoint on disk is always finite and <c>--resume</c> can continue from it).
/// </summary>
public sealed class NonFiniteStateException : DaRcotException
{
    /// <summary>What the tensor is, e.g. <c>gradient of the transport network</c>.</summary>
    public string What { get; }

    /// <summary>The tensor's name (parameter key, or optimizer-state field and index).</summary>
    public string TensorName { get; }

    /// <summary>The 1-based global step it was found at.</summary>
    public long Step { get; }

    /// <summary>Creates the exception; <paramref name="consequence"/> says what was not done because of it.</summary>
    public NonFiniteStateException(string what, string tensorName, long step, string consequence)
        : base($"Step {step}: the {what} '{tensorName}' holds NaN or infinite values; {consequence}")
    {
        What = what;
        TensorName = tensorName;
        Step = step;
    }
}
