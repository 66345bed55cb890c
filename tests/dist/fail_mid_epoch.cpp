// A data-parallel run that would take minutes, in which rank 1 throws at its 5th step. The job
// must end within seconds, exiting non-zero with "ember: rank 1 of P: ..." (check_failure.sh).

#include <ember/dist/communicator.h>
#include <ember/ember.h>

#include <exception>

using namespace ember;

namespace {

class FailAtStep : public train::Callback {
 public:
  explicit FailAtStep(int rank) : rank_(rank) {}
  void on_step_end(const train::StepResult& step) override {
    if (rank_ == 1 && step.step == 5) throw Error("injected failure at step 5");
  }

 private:
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  dist::Environment mpi(argc, argv);
  dist::Communicator& world = mpi.world();
  try {
    manual_seed(0);
    const Tensor x = randn({256, 8}), y = randn({256});
    nn::Linear model(8, 1);
    optim::SGD sgd(model.parameters(), {.lr = 0.01});
    train::Trainer trainer(model, {models::regression("y")}, sgd,
                           {.epochs = 1000000, .batch_size = 4});
    trainer.set_process_group(&world);
    trainer.add_callback(std::make_shared<FailAtStep>(world.rank()));
    trainer.fit(data::TensorDataset({x, y}));
  } catch (const std::exception& error) {
    world.abort_job(error.what());
  }
  return 0;
}
