module github.com/shmring/shmring/metrics

go 1.26.0

replace github.com/shmring/shmring => ../
