package cli

import (
	"context"
	"fmt"
)

func bench(ctx context.Context, env Env, args []string) error {
	return fmt.Errorf("%w: bench is not built yet", errUsage)
}
